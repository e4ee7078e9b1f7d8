"""Real-shaped AWS sample events (no stamps) through the consumer, and fuzzed events:
every record is accounted for, and nothing but library errors escapes ``process``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from consumer_models import OrderV2, Seen, consumer_registry, invoice, v1, v2, v3, v4
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import versioned_msgs as vm
from versioned_msgs._core.attributes import attributes_digest
from versioned_msgs.testing import (
    Emulator,
    eventbridge_event,
    kinesis_event,
    s3_event,
    sns_event,
    sns_sqs_event,
    sqs_event,
)

EVENTS = Path(__file__).parent / "events"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def make(**options: Any) -> tuple[vm.Consumer, Seen]:
    consumer = vm.Consumer(consumer_registry(), **options)
    seen = Seen()
    consumer.handler(OrderV2)(seen)
    return consumer, seen


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("sqsEvent.json", 2),
        ("sqsDlqTriggerEvent.json", 1),
        ("snsSqsEvent.json", 1),
        ("snsSqsFifoEvent.json", 1),
        ("kinesisStreamEvent.json", 2),
        ("kinesisStreamCloudWatchLogsEvent.json", 2),
    ],
)
def test_real_unstamped_batches_follow_on_unversioned(name: str, count: int) -> None:
    """Sample SQS/Kinesis events carry no stamp: rejected by default (all reported),
    acknowledged with on_unversioned="ignore"."""
    event = load(name)
    consumer, seen = make()
    report = consumer.process(event, None)
    assert [r.outcome for r in report.records].count("rejected") >= 1
    assert len(report.records) == count
    assert report.response is not None
    assert report.response["batchItemFailures"]
    assert isinstance(report.records[0].error, vm.MissingStampError)
    ignoring, _ = make(on_unversioned="ignore")
    report = ignoring.process(event, None)
    assert [r.outcome for r in report.records] == ["ignored"] * count
    assert report.response == {"batchItemFailures": []}
    assert seen.calls == []


def test_real_kinesis_batch_stops_after_the_first_rejection() -> None:
    """Kinesis keeps order: the first unversioned record is rejected, the next retried."""
    consumer, _ = make()
    report = consumer.process(load("kinesisStreamEvent.json"), None)
    assert [r.outcome for r in report.records] == ["rejected", "retried"]


def test_real_sns_and_eventbridge_events_raise_when_rejected() -> None:
    """Async sample events (SNS, EventBridge) without stamps raise RecordsFailedError."""
    consumer, _ = make()
    for name in ("snsEvent.json", "eventBridgeEvent.json"):
        with pytest.raises(vm.RecordsFailedError, match="rejected"):
            consumer.handle_event(load(name), None)
    ignoring, _ = make(on_unversioned="ignore")
    assert ignoring.handle_event(load("snsEvent.json"), None) is None


def test_real_unversioned_json_with_assumed_version() -> None:
    """on_unversioned=2 decodes unstamped JSON as v2: the sample bodies do not fit (rejected)."""
    consumer, _ = make(on_unversioned=2)
    report = consumer.process(load("snsSqsEvent.json"), None)
    assert [r.outcome for r in report.records] == ["rejected"]
    assert isinstance(report.records[0].error, vm.PayloadError)


@pytest.mark.parametrize(
    "name",
    [
        "s3Event.json",
        "s3EventDecodedKey.json",
        "s3EventGlacier.json",
        "s3EventDeleteObject.json",
        "s3SqsEvent.json",
        "s3EventBridgeNotificationObjectCreatedEvent.json",
        "s3EventBridgeNotificationObjectDeletedEvent.json",
        "s3EventBridgeNotificationObjectExpiredEvent.json",
        "s3EventBridgeNotificationObjectRestoreCompletedEvent.json",
    ],
)
def test_real_s3_events_for_objects_that_do_not_exist_are_skipped(aws: Emulator, name: str) -> None:
    """The sample S3 events name buckets that do not exist here: gone, so skipped."""
    consumer, seen = make(s3=aws.client("s3"))
    report = consumer.process(load(name), None)
    assert [r.outcome for r in report.records] == ["skipped"]
    assert seen.calls == []
    assert consumer.handle_event(load(name), None) in (None, {"batchItemFailures": []})


# ---- fuzz --------------------------------------------------------------------------------------


def _events() -> list[dict[str, Any]]:
    return [
        sqs_event(v1(), v2(), v3(), v4(), attributes={"t": "x", "n": 1}),
        sqs_event(v2(), v1(), group_id="g"),
        sns_sqs_event(v1(), v3()),
        sns_sqs_event(v2(), raw=True),
        sns_event(v1()),
        kinesis_event(v1(), v4()),
        eventbridge_event(v2()),
        s3_event("b", "k", "e"),
        load("snsSqsEvent.json"),
        load("s3SqsEvent.json"),
        load("sqsEvent.json"),
    ]


BASE_EVENTS = _events()

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=12),
    st.sampled_from(["", "{", "[", '{"vmsg": 1}', "aws:s3", "Notification", "String", "0"]),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(event: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    node = event
    for step in path[:-1]:
        node = node[step]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return event


class _FailingS3:
    """An S3 client that fails like a network error would (the fuzz never reaches AWS)."""

    def get_object(self, **kwargs: Any) -> Any:
        raise ConnectionError("no network in this test")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, len(BASE_EVENTS) - 1),
    pick=st.integers(0, 10_000),
    value=json_value,
    delete=st.booleans(),
    policy=st.sampled_from(["retry", "ignore", "reject"]),
)
def test_fuzzed_events_never_leak_non_library_errors(
    which: int, pick: int, value: Any, delete: bool, policy: str
) -> None:
    """Any single mutation of a valid event either processes (every record accounted for,
    outcomes from the documented set) or raises a VersionedMsgsError."""
    event = copy.deepcopy(BASE_EVENTS[which])
    paths = _paths(event)
    event = _mutate(event, paths[pick % len(paths)], value, delete)
    consumer = vm.Consumer(
        consumer_registry(),
        on_newer=policy,  # type: ignore[arg-type]
        on_unknown=policy,  # type: ignore[arg-type]
        on_unversioned=policy,  # type: ignore[arg-type]
        s3=_FailingS3(),
    )
    consumer.handler(OrderV2)(Seen(fail_ids=("b",)))
    try:
        report = consumer.process(event, None)
    except vm.VersionedMsgsError:
        return
    allowed = {
        "handled",
        "upgraded",
        "routed",
        "tolerated",
        "ignored",
        "skipped",
        "retried",
        "rejected",
        "parked",
        "failed",
    }
    assert {r.outcome for r in report.records} <= allowed
    raw = event.get("Records") if isinstance(event, dict) else None
    if isinstance(raw, list):
        assert len(report.records) >= len(raw)
    for r in report.records:
        if r.outcome in ("retried", "rejected", "failed"):
            assert r.error is not None


# Records a mixed batch is drawn from: versions, a newer unreadable one, another type, user
# attributes that differ; each may carry SQS's digest, a made-up one or none.
_MIXED_KINDS = [
    (v1, {}),
    (v2, {}),
    (v2, {"tenant": "acme"}),
    (v2, {"tenant": "umbrella"}),
    (v3, {}),
    (v4, {}),
    (invoice, {}),
]


def _mixed_record(kind: int, digest: str, i: int) -> dict[str, Any]:
    make_one, attributes = _MIXED_KINDS[kind]
    rec: dict[str, Any] = sqs_event(make_one(f"m{i}"), attributes=attributes)["Records"][0]
    if digest == "sqs":
        rec["md5OfMessageAttributes"] = attributes_digest(rec["messageAttributes"])
    elif digest == "made-up":
        rec["md5OfMessageAttributes"] = "0" * 32
    return rec


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_MIXED_KINDS) - 1), st.sampled_from(["sqs", "made-up", "none"])
        ),
        min_size=1,
        max_size=12,
    )
)
def test_each_record_of_a_mixed_batch_gets_what_it_gets_alone(
    picks: list[tuple[int, str]],
) -> None:
    """Whatever mix of stamps, user attributes and digests a batch holds, every record's
    outcome, version and attributes are those it gets in an event of its own."""
    records = [_mixed_record(kind, digest, i) for i, (kind, digest) in enumerate(picks)]
    consumer, _ = make(on_newer="reject", on_unknown="ignore")
    report = consumer.process({"Records": copy.deepcopy(records)}, None)
    alone_consumer, _ = make(on_newer="reject", on_unknown="ignore")

    def summary(r: vm.RecordResult) -> tuple[Any, ...]:
        m = r.meta
        return (r.outcome, r.message_id, None if m is None else (m.version, m.attributes))

    alone = [
        summary(alone_consumer.process({"Records": [rec]}, None).records[0]) for rec in records
    ]
    assert [summary(r) for r in report.records] == alone


def test_a_record_after_a_known_digest_is_not_read_with_an_older_snapshot() -> None:
    """A record told by a digest seen earlier in the batch, between two records with equal
    attributes and no digest: the second of those is read from its own attributes."""
    picks = [(1, "sqs"), (1, "sqs"), (0, "none"), (2, "none"), (1, "sqs"), (2, "none")]
    records = [_mixed_record(kind, digest, i) for i, (kind, digest) in enumerate(picks)]
    consumer, _ = make()
    report = consumer.process({"Records": records}, None)
    got = [(r.outcome, r.meta and r.meta.attributes) for r in report.records]
    assert got == [
        ("handled", {}),
        ("handled", {}),
        ("upgraded", {}),
        ("handled", {"tenant": "acme"}),
        ("handled", {}),
        ("handled", {"tenant": "acme"}),
    ]
