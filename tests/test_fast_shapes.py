"""The shaped fast path (``fastpath.ShapedFastPath`` with ``fast_shapes``) against the
reference path: SNS notifications in SQS bodies (raw delivery off), EventBridge events in SQS
bodies and invoking Lambda, S3 notifications in SQS bodies (read through a test S3 client
that honours ``IfMatch`` and records every request), and Kinesis records.

As in ``test_fast_path.py``: hypothesis builds batches whose records vary in every way the
reference path tells apart (stamps, bodies, envelopes, keys that make the body another
source, user attributes, FIFO groups, shards, handler failures) and each result through
``process`` must equal the reference path's; "the fast path ran" tests prove the shortcut
finished the ordinary batches itself.
"""

from __future__ import annotations

import base64
import copy
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fast_path import (
    PAYLOADS,
    Config,
    Kind,
    assert_each_record_alone,
    assert_same_as_reference,
    assert_same_results,
    build,
    configs,
    encoded,
    fifo,
    message_id,
    outcomes,
    run,
    sqs_record,
    user_attributes,
)

import versioned_msgs as vm
from versioned_msgs.testing import eventbridge_event, kinesis_event, sns_sqs_event, sqs_event

#: A W3C traceparent whose span id ends in the record's number (``% i``).
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9%04x-01"

# ---- SNS -> SQS, raw delivery off -----------------------------------------------------------

#: Changes to the stamp in the envelope's MessageAttributes.
SNS_STAMPS = (
    "as-is",
    "producer",
    "no-readable-by",
    "readable-by-1",
    "readable-by-2",  # invalid below v2
    "unstamped",
    "version-as-string",  # malformed
    "version-02",  # malformed
    "text-content",
)
#: The SNS Message (the payload).
MESSAGES = (
    "plain",
    "spaced",
    "late-key",
    "vmsg-key",
    "misfit",
    "truncated",
    "not-json",
    "array",
    "embedded",
)
#: The envelope around it.
ENVELOPES = (
    "aws",  # pretty-printed, as SNS writes it
    "compact",
    "not-notification",  # Type SubscriptionConfirmation
    "vmsg-first",  # a first key "vmsg": the body is then an embedded envelope
    "vmsg-late",  # a "vmsg" key that is not first
    "no-attributes",
    "null-attributes",
    "duplicate-type",  # "Type" twice, the last one Notification
    "duplicate-attributes",  # "MessageAttributes" twice, the last one the stamp's
    "sqs-attributes",  # the SQS record has attributes of its own
    "no-topic",
    "message-object",  # Message an object, not a string
)
SNS_USERS = ("none", "tenant", "trace", "binary", "array", "traceparent")


@dataclass(frozen=True)
class SnsKind:
    payload: str = "v2"
    stamp: str = "as-is"
    message: str = "plain"
    envelope: str = "aws"
    user: str = "tenant"


def _sns_stamp(attrs: dict[str, Any], stamp: str) -> None:
    def put(name: str, type_: str, value: str) -> None:
        attrs[name] = {"Type": type_, "Value": value}

    if stamp == "producer":
        put("vmsg-producer", "String", "billing")
    elif stamp == "no-readable-by":
        attrs.pop("vmsg-readable-by", None)
    elif stamp.startswith("readable-by-"):
        put("vmsg-readable-by", "Number", stamp[-1])
    elif stamp == "unstamped":
        for name in [k for k in attrs if k.startswith("vmsg-")]:
            del attrs[name]
    elif stamp == "version-as-string":
        attrs["vmsg-version"]["Type"] = "String"
    elif stamp == "version-02":
        attrs["vmsg-version"]["Value"] = "0" + attrs["vmsg-version"]["Value"]
    elif stamp == "text-content":
        put("vmsg-content-type", "String", "text/plain")


def _message(kind: SnsKind, enc: vm.Encoded) -> Any:
    plain = enc.body.decode()
    return {
        "plain": plain,
        "spaced": " " + plain,
        "late-key": '{"zz":0,' + plain[1:],
        "vmsg-key": plain[:-1] + ',"vmsg":{"type":"x","version":9}}',
        "misfit": '{"id":5,"qty":"x","number":"x"}',
        "truncated": plain[:-1],
        "not-json": "not json",
        "array": "[1,2]",
        "embedded": enc.embedded().decode(),
    }[kind.message]


def sns_record(kind: SnsKind, i: int) -> dict[str, Any]:
    """Record ``i`` of an SNS subscription's SQS batch, raw delivery off."""
    enc = encoded(kind.payload, i)
    constant, per_message = user_attributes("tenant" if kind.user == "array" else kind.user, i)
    rec = sns_sqs_event(enc, attributes={**constant, **per_message})["Records"][0]
    rec["messageId"] = message_id(i)
    env = json.loads(rec["body"])
    attrs = env["MessageAttributes"]
    if kind.user == "array":
        attrs["tags"] = {"Type": "String.Array", "Value": '["a", "b"]'}
    elif kind.user == "traceparent":
        attrs["traceparent"] = {"Type": "String", "Value": TRACEPARENT % i}
    _sns_stamp(attrs, kind.stamp)
    env["Message"] = _message(kind, enc)
    shape = kind.envelope
    if shape == "not-notification":
        env["Type"] = "SubscriptionConfirmation"
    elif shape == "vmsg-first":
        env = {"vmsg": {"type": "order.created", "version": 2}, **env}
    elif shape == "vmsg-late":
        env["vmsg"] = {"type": "order.created", "version": 2}
    elif shape == "no-attributes":
        del env["MessageAttributes"]
    elif shape == "null-attributes":
        env["MessageAttributes"] = None
    elif shape == "no-topic":
        del env["TopicArn"]
    elif shape == "message-object":
        env["Message"] = {"id": f"m{i}"}
    elif shape == "sqs-attributes":
        rec["messageAttributes"] = {
            "tenant": {"stringValue": "acme", "dataType": "String", "stringListValues": []}
        }
    if shape == "compact":
        body = json.dumps(env)
    else:
        body = json.dumps(env, indent=2, separators=(",", " : "))
    if shape == "duplicate-type":
        body = '{"Type" : "Other",' + body[1:]
    elif shape == "duplicate-attributes":
        body = '{"MessageAttributes" : {},' + body[1:]
    rec["body"] = body
    return rec


good_sns = st.builds(
    SnsKind,
    payload=st.sampled_from(("v1", "v2")),
    stamp=st.sampled_from(("as-is", "producer", "readable-by-1")),
    message=st.sampled_from(("plain", "late-key")),
    envelope=st.sampled_from(("aws", "compact", "duplicate-type", "duplicate-attributes")),
    user=st.sampled_from(SNS_USERS),
)
any_sns = st.builds(
    SnsKind,
    payload=st.sampled_from(PAYLOADS),
    stamp=st.sampled_from(SNS_STAMPS),
    message=st.sampled_from(MESSAGES),
    envelope=st.sampled_from(ENVELOPES),
    user=st.sampled_from(SNS_USERS),
)
#: a raw SQS record now and then among the notifications (another producer on the queue)
raw_sqs = st.builds(Kind, payload=st.sampled_from(("v1", "v2")))


@st.composite
def sns_batches(draw: st.DrawFn, *, queue: str = "standard") -> tuple[list[Any], frozenset[int]]:
    first = draw(st.one_of(good_sns, good_sns, any_sns))
    rest = draw(st.lists(st.one_of(good_sns, any_sns, raw_sqs), max_size=7))
    records = [
        sns_record(k, i) if isinstance(k, SnsKind) else sqs_record(k, i)
        for i, k in enumerate([first, *rest])
    ]
    if queue == "fifo":
        groups = draw(st.lists(st.sampled_from(("g1", "g2")), min_size=len(records)))
        records = [fifo(r, g, i) for i, (r, g) in enumerate(zip(records, groups, strict=False))]
    fail = draw(st.frozensets(st.integers(0, len(records) - 1), max_size=2))
    return records, fail


@settings(max_examples=300, deadline=None)
@given(config=configs, batch=sns_batches())
def test_each_record_of_an_sns_subscription_batch_gets_what_it_gets_alone(
    config: Config, batch: tuple[list[Any], frozenset[int]]
) -> None:
    """SNS notifications in SQS bodies (every stamp change, every Message, envelopes
    pretty-printed or compact, with duplicate keys, without attributes, with a ``vmsg`` key,
    not notifications, with SQS attributes of their own; user attributes including Binary
    and String.Array; raw SQS records among them), under any policies: each record gets the
    reference path's result."""
    records, fail = batch
    assert_each_record_alone(config, records, fail)


@settings(max_examples=120, deadline=None)
@given(config=configs, batch=sns_batches(queue="fifo"))
def test_an_sns_fifo_subscription_batch_gets_what_the_reference_path_gives_it(
    config: Config, batch: tuple[list[Any], frozenset[int]]
) -> None:
    """The same through an SNS FIFO topic's FIFO queue: the whole batch's results, each
    group stopping at its first failure."""
    records, fail = batch
    assert_same_as_reference(config, fail, {"Records": records})


# ---- EventBridge -> SQS -----------------------------------------------------------------------

#: How the event in the SQS body differs from what EventBridge writes.
EVENTS = (
    "as-sent",
    "data-first",  # detail's members in the other order
    "extra-member",  # detail has a third member
    "no-data",  # detail without data
    "detail-payload",  # detail is the bare payload (unstamped)
    "s3-source",  # source aws.s3 with an object: an S3 object to read
    "s3-source-envelope",  # the same, detail also carrying the envelope's members
    "malformed-vmsg",  # vmsg.version not an integer
    "sns-keys",  # Type/Message/TopicArn too: read as an SNS envelope
    "records-key",  # a top-level Records list
    "null-keys",  # Type, Records and Event present as null
    "vmsg-null-first",  # a first key "vmsg" of null: an (invalid) embedded envelope
    "vmsg-late",  # a "vmsg" key that is not first (still an EventBridge event)
    "other-type",  # a Type that is not Notification (still an EventBridge event)
    "s3-records",  # a Records list of S3 records: read as an S3 notification
    "s3-test-event",  # Event s3:TestEvent: skipped as S3's test event
    "s3-source-escaped",  # source aws.s3 written with an escape, detail with an object
    "s3-source-no-object",  # source aws.s3, detail the envelope alone
    "source-object",  # source an object, not a string
    "no-source",
    "no-detail-type",
    "non-ascii",  # data with escaped non-ASCII text
    "spaced",  # pretty-printed
    "traced",  # traceparent in the vmsg header
)


@dataclass(frozen=True)
class EventKind:
    payload: str = "v2"
    event: str = "as-sent"


def eventbridge_record(kind: EventKind, i: int) -> dict[str, Any]:
    """Record ``i`` of an SQS batch fed by an EventBridge rule."""
    enc = encoded(kind.payload, i)
    event = eventbridge_event(enc)
    detail = event["detail"]
    change = kind.event
    if change == "data-first":
        event["detail"] = {"data": detail["data"], "vmsg": detail["vmsg"]}
    elif change == "extra-member":
        detail["note"] = "x"
    elif change == "no-data":
        del detail["data"]
    elif change == "detail-payload":
        event["detail"] = detail["data"]
    elif change == "s3-source":
        event["source"] = "aws.s3"
        event["detail"] = {"bucket": {"name": "bucket"}, "object": {"key": f"k{i}", "etag": "e"}}
        event["detail-type"] = "Object Created"
    elif change == "s3-source-envelope":
        event["source"] = "aws.s3"
        detail.update({"bucket": {"name": "bucket"}, "object": {"key": f"k{i}", "etag": "e"}})
    elif change == "malformed-vmsg":
        detail["vmsg"]["version"] = "x"
    elif change == "sns-keys":
        event.update({"Type": "Notification", "Message": "{}", "TopicArn": "arn"})
    elif change == "records-key":
        event["Records"] = []
    elif change == "traced":
        detail["vmsg"]["traceparent"] = TRACEPARENT % i
    elif change == "null-keys":
        event.update({"Type": None, "Records": None, "Event": None})
    elif change == "vmsg-null-first":
        event = {"vmsg": None, **event}
    elif change == "vmsg-late":
        event["vmsg"] = {"type": "order.created", "version": 2}
    elif change == "other-type":
        event["Type"] = "SubscriptionConfirmation"
    elif change == "s3-records":
        event["Records"] = [
            {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete", "s3": {}}
        ]
    elif change == "s3-test-event":
        event["Event"] = "s3:TestEvent"
    elif change == "s3-source-escaped":
        event["source"] = "aws.s3"
        detail.update({"bucket": {"name": "bucket"}, "object": {"key": f"k{i}", "etag": "e"}})
    elif change == "s3-source-no-object":
        event["source"] = "aws.s3"
    elif change == "source-object":
        event["source"] = {"name": "aws.s3"}
    elif change in ("no-source", "no-detail-type"):
        del event[change[3:]]
    elif change == "non-ascii" and isinstance(detail["data"], dict):
        for key in ("id", "number"):
            if key in detail["data"]:
                detail["data"][key] = str(detail["data"][key]) + "\u00e9\u2603"
    body = json.dumps(event, indent=2) if change == "spaced" else json.dumps(event)
    if change == "s3-source-escaped":
        body = body.replace('"aws.s3"', '"aws\\u002es3"')
    rec = sqs_event(enc)["Records"][0]
    rec["messageAttributes"] = {}
    rec["body"] = body
    rec["messageId"] = message_id(i)
    return rec


good_event = st.builds(EventKind, payload=st.sampled_from(("v1", "v2")))
any_event = st.builds(EventKind, payload=st.sampled_from(PAYLOADS), event=st.sampled_from(EVENTS))


@settings(max_examples=200, deadline=None)
@given(
    config=configs,
    kinds=st.lists(st.one_of(good_event, any_event), min_size=1, max_size=8),
    fail=st.frozensets(st.integers(0, 7), max_size=2),
)
def test_each_eventbridge_record_in_sqs_gets_what_it_gets_alone(
    config: Config, kinds: list[EventKind], fail: frozenset[int]
) -> None:
    """EventBridge events in SQS bodies (members reordered, extra or missing, the payload
    bare, an S3 object event, a malformed stamp, keys that make the body another source,
    non-ASCII data, pretty-printed): each record gets the reference path's result."""
    records = [eventbridge_record(k, i) for i, k in enumerate(kinds)]
    assert_each_record_alone(config, records, fail)


@pytest.mark.parametrize("value", ["null", "{}", '{"type":"x","version":1}', "[]", '"x"', "0"])
@pytest.mark.parametrize("where", ["first", "late"])
def test_an_eventbridge_body_with_a_vmsg_key_of_any_value_is_handed_back(
    where: str, value: str
) -> None:
    """The event's decoder refuses a "vmsg" key of any JSON value (its field is typed
    UnsetType, which no value decodes into), first or not: the record is handed back and
    gets the reference path's result."""
    rec = eventbridge_record(EventKind(), 2)
    member = '"vmsg": ' + value
    body = rec["body"]
    if where == "first":
        rec["body"] = "{" + member + ", " + body[1:]
    else:
        rec["body"] = body[:-1] + ", " + member + "}"
    event = {"Records": [eventbridge_record(EventKind(), i) for i in range(2)] + [rec]}
    report, fast, handed_back = run(build().consumer, copy.deepcopy(event))
    assert (fast, handed_back) == (2, Counter({"body": 1}))
    expected = build().consumer._process(copy.deepcopy(event), fast=False)
    assert_same_results(report.records, expected.records)


@pytest.mark.parametrize("key", ["Type", "Records", "Event"])
@pytest.mark.parametrize("value", ["null", "{}", "[]", '"x"', "0", "false"])
def test_an_eventbridge_body_with_another_sources_key_is_handed_back_unless_null(
    key: str, value: str
) -> None:
    """A Type, Records or Event key that is not null makes the record a hand-back (the
    reference path may read the body as another source); a null one does not."""
    rec = eventbridge_record(EventKind(), 2)
    rec["body"] = rec["body"][:-1] + f', "{key}": {value}}}'
    event = {"Records": [eventbridge_record(EventKind(), i) for i in range(2)] + [rec]}
    report, fast, handed_back = run(build().consumer, copy.deepcopy(event))
    if value == "null":
        assert (fast, handed_back) == (3, Counter())
    else:
        assert (fast, handed_back) == (2, Counter({"body": 1}))
    expected = build().consumer._process(copy.deepcopy(event), fast=False)
    assert_same_results(report.records, expected.records)


# ---- Kinesis ------------------------------------------------------------------------------------

#: How a Kinesis record's data differs from what our publisher writes.
DATA = (
    "as-sent",
    "spaced",  # whitespace around the envelope's keys
    "data-first",  # not an envelope: unversioned
    "no-data",
    "empty-data",  # "data": "" is a member (a JSON string), not an absent one
    "eventbridge",  # an EventBridge event in the data
    "not-base64",
    "not-json",
    "malformed-vmsg",
    "no-partition-key",
    "no-event-id",
    "traced",  # traceparent and tracestate in the vmsg header (per message)
    "bad-trace",  # a malformed traceparent in the header: ignored
)


@dataclass(frozen=True)
class DataKind:
    payload: str = "v2"
    data: str = "as-sent"
    shard: str = "shardId-000000000000"


def kinesis_record(kind: DataKind, i: int) -> dict[str, Any]:
    enc = encoded(kind.payload, i)
    rec = kinesis_event(enc)["Records"][0]
    seq = str(49590338271490256608559692538361571095921575989136588898 + i)
    rec["kinesis"]["sequenceNumber"] = seq
    rec["eventID"] = f"{kind.shard}:{seq}"
    head = json.dumps(enc.stamp.envelope_header())
    body = enc.body.decode()
    data: str | None = None
    change = kind.data
    if change == "spaced":
        data = ' { "vmsg" : ' + head + ' ,\n "data" : ' + body + " } "
    elif change == "data-first":
        data = '{"data":' + body + ',"vmsg":' + head + "}"
    elif change == "no-data":
        data = '{"vmsg":' + head + "}"
    elif change == "empty-data":
        data = '{"vmsg":' + head + ',"data":""}'
    elif change == "eventbridge":
        data = json.dumps(eventbridge_event(enc))
    elif change == "not-json":
        data = "not json"
    elif change == "malformed-vmsg":
        data = '{"vmsg":{"type":"order.created","version":"2"},"data":' + body + "}"
    elif change in ("traced", "bad-trace"):
        header = enc.stamp.envelope_header()
        header["traceparent"] = TRACEPARENT % i if change == "traced" else "00-zz"
        header["tracestate"] = "vendor=1"
        data = '{"vmsg":' + json.dumps(header) + ',"data":' + body + "}"
    if data is not None:
        rec["kinesis"]["data"] = base64.b64encode(data.encode()).decode()
    if change == "not-base64":
        rec["kinesis"]["data"] = "not base64!"
    elif change == "no-partition-key":
        del rec["kinesis"]["partitionKey"]
    elif change == "no-event-id":
        del rec["eventID"]
    return rec


shards = st.sampled_from(("shardId-000000000000", "shardId-000000000001"))
good_data = st.builds(DataKind, payload=st.sampled_from(("v1", "v2")), shard=shards)
any_data = st.builds(
    DataKind, payload=st.sampled_from(PAYLOADS), data=st.sampled_from(DATA), shard=shards
)


@settings(max_examples=200, deadline=None)
@given(
    config=configs,
    kinds=st.lists(st.one_of(good_data, good_data, any_data), min_size=1, max_size=8),
    fail=st.frozensets(st.integers(0, 7), max_size=2),
)
def test_a_kinesis_batch_gets_what_the_reference_path_gives_it(
    config: Config, kinds: list[DataKind], fail: frozenset[int]
) -> None:
    """Kinesis batches over two shards (envelopes spaced, reordered, without data, an
    EventBridge event or no JSON in the data, malformed stamps, fields missing, handler
    failures): the whole batch's results, each shard stopping at its first failure."""
    event = {"Records": [kinesis_record(k, i) for i, k in enumerate(kinds)]}
    assert_same_as_reference(config, fail, event)


# ---- the fast path ran --------------------------------------------------------------------------


def _sns(*kinds: SnsKind, group: str | None = None) -> dict[str, Any]:
    records = [sns_record(k, i) for i, k in enumerate(kinds)]
    if group is not None:
        records = [fifo(r, group, i) for i, r in enumerate(records)]
    return {"Records": records}


RAN_FAST = {
    "sns, as AWS writes it": lambda: _sns(*[SnsKind()] * 5),
    "sns, mixed versions and a trace id": lambda: _sns(
        *[SnsKind("v1" if i % 2 else "v2", user="trace") for i in range(5)]
    ),
    "sns, String.Array and Binary attributes": lambda: _sns(
        SnsKind(user="array"), SnsKind(user="binary"), SnsKind(user="array")
    ),
    "sns, fifo": lambda: _sns(*[SnsKind()] * 4, group="g1"),
    "sns, traceparent attribute": lambda: _sns(*[SnsKind(user="traceparent")] * 4),
    "sns, raw delivery (the SQS path)": lambda: sns_sqs_event(
        *(encoded("v2", i) for i in range(4)), raw=True, attributes={"tenant": "acme"}
    ),
    "eventbridge in sqs": lambda: {
        "Records": [eventbridge_record(EventKind("v1" if i == 2 else "v2"), i) for i in range(4)]
    },
    "kinesis": lambda: {
        "Records": [kinesis_record(DataKind("v1" if i % 3 else "v2"), i) for i in range(5)]
    },
    "kinesis, traced": lambda: {
        "Records": [kinesis_record(DataKind(data="traced"), i) for i in range(4)]
    },
    "eventbridge in sqs, traced": lambda: {
        "Records": [eventbridge_record(EventKind(event="traced"), i) for i in range(3)]
    },
}


@pytest.mark.parametrize("name", list(RAN_FAST))
def test_the_fast_path_finishes_every_record_of_each_source(name: str) -> None:
    """SNS notifications in SQS (as AWS pretty-prints them, mixed versions, per-message
    attributes, FIFO), raw delivery, EventBridge events in SQS and Kinesis records: a fast
    path finishes every record (nothing handed back), with the reference path's results."""
    event = RAN_FAST[name]()
    consumer = build().consumer
    report, fast, handed_back = run(consumer, copy.deepcopy(event))
    assert (fast, handed_back) == (len(event["Records"]), Counter())
    expected = build().consumer._process(copy.deepcopy(event), fast=False)
    assert_same_results(report.records, expected.records)
    assert set(outcomes(report)) <= {"handled", "upgraded"}


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (SnsKind(envelope="vmsg-first"), "body"),
        (SnsKind(envelope="sqs-attributes"), "no fast plan"),
        (SnsKind(message="embedded"), "body"),
        (SnsKind(stamp="unstamped"), "no fast plan"),
        (SnsKind(payload="v4"), "no fast plan"),
        (SnsKind(message="misfit"), "decode"),
    ],
    ids=str,
)
def test_an_sns_record_the_fast_path_cannot_prove_is_handed_back(
    kind: SnsKind, reason: str
) -> None:
    """One odd notification among ordinary ones: it alone is handed back, with its reason,
    and gets the reference path's result."""
    kinds = [SnsKind()] * 4
    kinds[2] = kind
    event = _sns(*kinds)
    report, fast, handed_back = run(build().consumer, copy.deepcopy(event))
    assert (fast, handed_back) == (3, Counter({reason: 1}))
    expected = build().consumer._process(copy.deepcopy(event), fast=False)
    assert_same_results(report.records, expected.records)


def test_a_failed_kinesis_record_stops_its_shard_on_the_fast_path() -> None:
    """Kinesis: a handler failure stops its shard (later records handed back as "stopped
    group" and retried); the other shard's records are finished fast."""
    kinds = [DataKind(shard=f"shardId-00000000000{i % 2}") for i in range(5)]
    event = {"Records": [kinesis_record(k, i) for i, k in enumerate(kinds)]}
    consumer = build(fail=frozenset({0})).consumer
    report, fast, handed_back = run(consumer, event)
    assert outcomes(report) == ["failed", "handled", "retried", "handled", "retried"]
    assert (fast, handed_back) == (3, Counter({"stopped group": 2}))
    assert report.response == {
        "batchItemFailures": [
            {"itemIdentifier": r.message_id} for r in report.records if r.outcome != "handled"
        ]
    }


def test_an_sns_attribute_list_is_each_records_own() -> None:
    """A String.Array user attribute read once per distinct set of attributes is still a
    fresh list in each record's Meta: a handler changing its own leaves the next intact."""
    consumer = vm.Consumer(build().consumer.registry)
    seen: list[list[str]] = []

    def handle(msg: Any, meta: vm.Meta) -> None:
        seen.append(list(meta.attributes["tags"]))
        meta.attributes["tags"].append("changed")

    from consumer_models import OrderV2

    consumer.handler(OrderV2)(handle)
    report, fast, _ = run(consumer, _sns(*[SnsKind(user="array")] * 3))
    assert fast == 3
    assert seen == [["a", "b"]] * 3
    assert outcomes(report) == ["handled"] * 3


def test_typed_splits_decode_the_data_in_one_pass_once_a_stamp_repeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kinesis and EventBridge-in-SQS records whose stamp repeats are split and decoded in
    one pass (the typed split), from the third record of a run of equal stamps on; a record
    with another stamp among them falls back to the plain split and still gets the
    reference path's result."""
    from versioned_msgs._aws import fast_shapes

    calls: Counter[str] = Counter()
    for cls in (fast_shapes.Kinesis, fast_shapes.EventBridgeInSqs):
        original = cls.typed_split

        def counting(
            self: Any, model: Any, original: Any = original, name: str = cls.__name__
        ) -> Any:
            split = original(self, model)

            def counted(rec: Any, fifo: bool) -> Any:
                calls[name] += 1
                return split(rec, fifo)

            return counted

        monkeypatch.setattr(cls, "typed_split", counting)
    versions = ["v2"] * 4 + ["v1"] + ["v2"] * 3
    for name, event in (
        ("Kinesis", {"Records": [kinesis_record(DataKind(v), i) for i, v in enumerate(versions)]}),
        (
            "EventBridgeInSqs",
            {"Records": [eventbridge_record(EventKind(v), i) for i, v in enumerate(versions)]},
        ),
    ):
        report, fast, handed_back = run(build().consumer, copy.deepcopy(event))
        assert (fast, handed_back) == (8, Counter())
        expected = build().consumer._process(copy.deepcopy(event), fast=False)
        assert_same_results(report.records, expected.records)
        # records 2, 3 and 4 (the v1 record, a miss), then 7 once two v2 records repeat
        assert calls[name] == 4, calls


# ---- S3 notifications in SQS -----------------------------------------------------------------

#: What the object a notification names holds, or how reading it fails.
OBJECTS = (
    "stamped",
    "unstamped",  # no stamp metadata: on_unversioned
    "embedded",  # the embedded envelope, no metadata
    "stamped-embedded",  # metadata and an envelope body
    "malformed-stamp",  # vmsg-version "02"
    "text-content",  # ContentType text/plain
    "not-json",
    "misfit",
    "gone",  # 404
    "superseded",  # 412
    "unreachable",  # a network error
    "traced",  # traceparent in the object's metadata
    # metadata as a client may answer it
    "upper-keys",  # VMSG-TYPE...: keys are compared lowercased
    "colliding-keys",  # vmsg-version then VMSG-VERSION: the last one wins
    "colliding-keys-swapped",  # the same two keys in the other order: the other one wins
    "reordered",  # the stamp's keys in another order, and a user key first
    "user-metadata",  # a key of the user's after the stamp
    "mangled-key",  # vmsg_type (a proxy's rewrite): malformed
    "half-stamp",  # vmsg-type without vmsg-version: malformed
    "no-content-type",  # ContentType absent: JSON
    "octet-stream",  # S3's default ContentType: JSON
    "no-metadata",  # Metadata absent from the response
    "metadata-mapping",  # Metadata a read-only mapping, not a dict
    "traced-state",  # traceparent and tracestate
    "traced-upper",  # TraceParent
    "traced-malformed",  # a traceparent that is not one: no trace context
    "no-length",  # ContentLength absent from the response
    "length-lie",  # ContentLength smaller than the body
)
#: How the notification differs from what S3 writes.
NOTES = (
    "as-sent",
    "removed",  # ObjectRemoved: skipped, nothing read
    "two-objects",
    "encoded-key",  # a space and a percent sign in the key
    "plus-key",  # a plus sign (encoded %2B) and a space (encoded +) in the key
    "no-etag",  # with a size, read after a HeadObject
    "quoted-etag",  # the ETag with its quotes
    "stale-etag",  # another ETag than the object's: 412
    "etag-number",  # an ETag that is not a string: none, read after a HeadObject
    "versioned",  # an ETag and a version id: both sent
    "version-only",  # a version id and no ETag: pinned by the version
    "version-null",
    "size-bool",
    "no-size",  # read after a HeadObject
    "size-lie",  # a size smaller than the object's
    "arn-bucket",  # an access point ARN: not read without allowed_buckets
    "empty-message-id",
    "sns-keys",  # Type/Message/TopicArn: read as an SNS envelope
    "other-source",  # eventSource not aws:s3
)
#: The ETag every object of :class:`MemoryS3` has.
ETAG = '"etag"'
ARN_BUCKET = "arn:aws:s3:us-east-1:123456789012:accesspoint/ap"
#: (max_bytes, allowed_buckets) of both consumers: the default, or a cap most test objects
#: exceed (the v1 payload, 11 bytes, does not), and allow-lists with and without the buckets.
READERS = (
    (None, None),
    (30, None),
    (None, frozenset({"bucket"})),
    (None, frozenset({"bucket", ARN_BUCKET})),
    (30, frozenset({"other-bucket"})),
)


@dataclass(frozen=True)
class ObjectKind:
    payload: str = "v2"
    obj: str = "stamped"
    note: str = "as-sent"


@dataclass
class StoredObject:
    how: str
    body: bytes
    metadata: Any  # the response's Metadata (None: absent)
    content_type: str | None  # None: absent


class MemoryS3:
    """An S3 client serving objects from memory, honouring ``IfMatch`` (every object's ETag
    is :data:`ETAG`) and counting every request with all its parameters."""

    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}
        self.requests: Counter[tuple[str, tuple[tuple[str, Any], ...]]] = Counter()

    def _object(self, op: str, **request: Any) -> StoredObject:
        from botocore.exceptions import ClientError

        self.requests[op, tuple(sorted(request.items()))] += 1
        stored = self.objects[request["Key"]]
        how = stored.how
        if how == "unreachable":
            raise ConnectionError("no route to S3 in this test")
        match = request.get("IfMatch")
        if how in ("gone", "superseded") or match not in (None, ETAG):
            status, code = (404, "NoSuchKey") if how == "gone" else (412, "PreconditionFailed")
            raise ClientError(
                {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op
            )
        return stored

    @staticmethod
    def _length(stored: StoredObject) -> dict[str, Any]:
        if stored.how == "no-length":
            return {}
        return {"ContentLength": 5 if stored.how == "length-lie" else len(stored.body)}

    def head_object(self, **request: Any) -> dict[str, Any]:
        return self._length(self._object("HeadObject", **request))

    def get_object(self, **request: Any) -> dict[str, Any]:
        import io

        stored = self._object("GetObject", **request)
        resp: dict[str, Any] = {"Body": io.BytesIO(stored.body), "ETag": ETAG}
        resp.update(self._length(stored))
        if stored.metadata is not None:
            # a fresh dict for each response, as boto3 makes
            metadata = stored.metadata
            resp["Metadata"] = dict(metadata) if isinstance(metadata, dict) else metadata
        if stored.content_type is not None:
            resp["ContentType"] = stored.content_type
        return resp


def _object_metadata(how: str, stamp: dict[str, str], i: int) -> Any:
    """The Metadata a GetObject of an object of kind ``how`` answers (None: absent)."""
    metadata: dict[str, str] = dict(stamp)
    if how in ("unstamped", "embedded"):
        metadata = {}
    elif how == "malformed-stamp":
        metadata["vmsg-version"] = "02"
    elif how == "traced":
        metadata["traceparent"] = TRACEPARENT % i
    elif how == "upper-keys":
        metadata = {k.upper(): v for k, v in stamp.items()}
    elif how in ("colliding-keys", "colliding-keys-swapped"):
        version = stamp["vmsg-version"]
        pair = [("vmsg-version", version), ("VMSG-VERSION", "7" if version != "7" else "6")]
        if how == "colliding-keys-swapped":
            pair.reverse()
        metadata = {k: v for k, v in stamp.items() if k != "vmsg-version"}
        metadata.update(pair)
    elif how == "reordered":
        metadata = {"tenant": "acme", **dict(reversed(list(stamp.items())))}
    elif how == "user-metadata":
        metadata["tenant"] = "acme"
    elif how == "mangled-key":
        metadata["vmsg_type"] = metadata.pop("vmsg-type")
    elif how == "half-stamp":
        del metadata["vmsg-version"]
    elif how == "no-metadata":
        return None
    elif how == "metadata-mapping":
        import types

        return types.MappingProxyType(metadata)
    elif how == "traced-state":
        metadata["traceparent"] = TRACEPARENT % i
        metadata["tracestate"] = f"vendor=x{i}"
    elif how == "traced-upper":
        metadata["TraceParent"] = TRACEPARENT % i
    elif how == "traced-malformed":
        metadata["traceparent"] = "00-zz"
    return metadata


def s3_notification_record(kind: ObjectKind, i: int, s3: MemoryS3) -> dict[str, Any]:
    """Record ``i`` of an SQS batch fed by S3 event notifications; its object put in ``s3``."""
    from versioned_msgs.testing import s3_event

    enc = encoded(kind.payload, i)
    key = {
        "encoded-key": f"orders/{i} 100%.json",
        "plus-key": f"orders/{i}+1 now.json",
    }.get(kind.note, f"orders/{i}.json")
    body = enc.body
    content_type: str | None = {
        "text-content": "text/plain",
        "no-content-type": None,
        "octet-stream": "binary/octet-stream",
    }.get(kind.obj, "application/json")
    how = kind.obj
    if how in ("embedded", "stamped-embedded"):
        body = enc.embedded()
    elif how == "not-json":
        body = b"not json"
    elif how == "misfit":
        body = b'{"id":5,"qty":"x","number":"x"}'
    metadata = _object_metadata(how, enc.stamp.to_s3_metadata(), i)
    s3.objects[key] = StoredObject(how, body, metadata, content_type)
    note = s3_event(
        ARN_BUCKET if kind.note == "arn-bucket" else "bucket",
        key,
        None if kind.note in ("no-etag", "version-only") else "etag",
        {"version-null": "null", "versioned": "v7", "version-only": "v7"}.get(kind.note),
        event_name="ObjectRemoved:Delete" if kind.note == "removed" else "ObjectCreated:Put",
        size=len(body),
    )
    s3rec = note["Records"][0]
    obj = s3rec["s3"]["object"]
    if kind.note == "size-bool":
        obj["size"] = True
    elif kind.note == "no-size":
        del obj["size"]
    elif kind.note == "size-lie":
        obj["size"] = 1
    elif kind.note == "quoted-etag":
        obj["eTag"] = ETAG
    elif kind.note == "stale-etag":
        obj["eTag"] = "0123abcd"
    elif kind.note == "etag-number":
        obj["eTag"] = 5
    elif kind.note == "two-objects":
        note["Records"].append(copy.deepcopy(s3rec))
    elif kind.note == "sns-keys":
        note.update({"Type": "Notification", "Message": "{}", "TopicArn": "arn"})
    elif kind.note == "other-source":
        s3rec["eventSource"] = "aws:other"
    rec = sqs_event(enc)["Records"][0]
    rec["messageAttributes"] = {}
    rec["body"] = json.dumps(note)
    rec["messageId"] = "" if kind.note == "empty-message-id" else message_id(i)
    return rec


def s3_harness(
    config: Config | None = None,
    fail: frozenset[int] = frozenset(),
    reader: tuple[int | None, frozenset[str] | None] = (None, None),
) -> tuple[Any, MemoryS3]:
    """A harness whose consumer reads a fresh :class:`MemoryS3` under ``reader``'s limits."""
    harness = build(config, fail)
    s3 = MemoryS3()
    consumer = harness.consumer
    consumer.reader._s3 = s3
    max_bytes, allowed = reader
    if max_bytes is not None:
        consumer.reader.max_bytes = max_bytes
    consumer.allowed_buckets = allowed
    return harness, s3


good_object = st.builds(ObjectKind, payload=st.sampled_from(("v1", "v2")))
any_object = st.builds(
    ObjectKind,
    payload=st.sampled_from(PAYLOADS),
    obj=st.sampled_from(OBJECTS),
    note=st.sampled_from(NOTES),
)


@settings(max_examples=300, deadline=None)
@given(
    config=configs,
    kinds=st.lists(st.one_of(good_object, any_object), min_size=1, max_size=8),
    fail=st.frozensets(st.integers(0, 7), max_size=2),
    reader=st.sampled_from(READERS),
)
def test_each_s3_notification_in_sqs_gets_what_it_gets_alone_and_is_read_once(
    config: Config,
    kinds: list[ObjectKind],
    fail: frozenset[int],
    reader: tuple[int | None, frozenset[str] | None],
) -> None:
    """S3 notifications in SQS bodies (objects stamped or not, enveloped, malformed, not
    JSON, gone, superseded, unreachable, too large; metadata keys in any case or order,
    colliding, mangled, absent; notifications removed, of two objects, with encoded keys,
    with or without an ETag or a version id, of an access point, with another source's
    keys), under any policies, size caps and allow-lists: each record gets the reference
    path's result, and the fast path sends exactly the S3 requests the reference path sends,
    parameters and all (an object read once, never again after a hand-back)."""
    reference, ref_s3 = s3_harness(config, fail, reader)
    records = [s3_notification_record(k, i, ref_s3) for i, k in enumerate(kinds)]
    alone = [
        reference.consumer._process({"Records": [copy.deepcopy(r)]}, fast=False).records[0:]
        for r in records
    ]
    fast, fast_s3 = s3_harness(config, fail, reader)
    fast_s3.objects = ref_s3.objects
    report = fast.consumer.process({"Records": copy.deepcopy(records)}, None)
    assert_same_results(report.records, [r for results in alone for r in results])
    assert fast.log.calls == reference.log.calls
    assert fast.parked.sent == reference.parked.sent
    assert fast_s3.requests == ref_s3.requests
    assert "unexpected" not in fast.stats.handed_back, fast.stats


def test_the_fast_path_finishes_s3_notifications_reading_each_object_once() -> None:
    """Notifications of stamped objects at two versions: the fast path finishes every
    record with one GetObject each (the event's size trusted, no HeadObject)."""
    kinds = [ObjectKind("v1" if i % 3 == 0 else "v2") for i in range(6)]
    harness, s3 = s3_harness()
    event = {"Records": [s3_notification_record(k, i, s3) for i, k in enumerate(kinds)]}
    consumer = harness.consumer
    report, fast, handed_back = run(consumer, copy.deepcopy(event))
    assert (fast, handed_back) == (6, Counter())
    assert set(s3.requests.values()) == {1}
    assert {op for op, _ in s3.requests} == {"GetObject"}
    assert outcomes(report) == ["upgraded" if k.payload == "v1" else "handled" for k in kinds]
    assert {r.meta.bucket for r in report.records if r.meta} == {"bucket"}
    assert [r.meta.key for r in report.records if r.meta] == [f"orders/{i}.json" for i in range(6)]


#: Objects and notifications the fast path finishes itself, each with its own metadata.
FAST_S3 = (
    ObjectKind(obj="upper-keys"),
    ObjectKind(obj="reordered"),
    ObjectKind(obj="user-metadata"),
    ObjectKind(obj="traced"),
    ObjectKind(obj="traced-state"),
    ObjectKind(obj="traced-upper"),
    ObjectKind(obj="traced-malformed"),
    ObjectKind(obj="colliding-keys-swapped"),  # (the stamp's own version last: it wins)
    ObjectKind(obj="no-content-type"),
    ObjectKind(obj="octet-stream"),
    ObjectKind(obj="no-length"),
    ObjectKind(note="plus-key"),
    ObjectKind(note="encoded-key"),
    ObjectKind(note="quoted-etag"),
    ObjectKind(note="versioned"),
    ObjectKind(note="version-only"),
    ObjectKind(note="version-null"),
    ObjectKind(note="empty-message-id"),
)


@pytest.mark.parametrize("kind", FAST_S3, ids=lambda k: f"{k.obj}-{k.note}")
def test_the_fast_path_finishes_s3_metadata_and_keys_as_the_reference_path(
    kind: ObjectKind,
) -> None:
    """Metadata keys in any case and order (colliding ones too), trace contexts, content
    types, encoded keys, quoted ETags and version ids: a batch alternating the variant with
    a plain stamped object is finished by the fast path, with the reference path's result
    for every record and the same S3 requests."""
    kinds = [kind if i % 2 == 0 else ObjectKind() for i in range(6)]
    reference, ref_s3 = s3_harness()
    records = [s3_notification_record(k, i, ref_s3) for i, k in enumerate(kinds)]
    expected = reference.consumer._process({"Records": copy.deepcopy(records)}, fast=False)
    fast, fast_s3 = s3_harness()
    fast_s3.objects = ref_s3.objects
    report, done, handed_back = run(fast.consumer, {"Records": copy.deepcopy(records)})
    assert (done, handed_back) == (6, Counter())
    assert_same_results(report.records, expected.records)
    assert fast_s3.requests == ref_s3.requests
    assert outcomes(report) == ["handled"] * 6


def test_s3_metadata_whose_keys_collide_is_read_in_its_own_order() -> None:
    """vmsg-version and VMSG-VERSION in one object's metadata: the last one wins, so two
    objects with equal metadata dicts in another order carry different stamps (v2, then v7).
    Alternating them, the v2 one first, each record gets its own order's result: a carrier
    equal as a dict but not in order is read again, not taken for the last one."""
    kinds = [ObjectKind(obj="colliding-keys" + ("" if i % 2 else "-swapped")) for i in range(6)]
    reference, ref_s3 = s3_harness()
    records = [s3_notification_record(k, i, ref_s3) for i, k in enumerate(kinds)]
    assert ref_s3.objects["orders/0.json"].metadata == ref_s3.objects["orders/1.json"].metadata
    expected = reference.consumer._process({"Records": copy.deepcopy(records)}, fast=False)
    fast, fast_s3 = s3_harness()
    fast_s3.objects = ref_s3.objects
    report, done, handed_back = run(fast.consumer, {"Records": copy.deepcopy(records)})
    assert (done, handed_back) == (3, Counter({"no fast plan": 3}))  # (v7: newer, retried)
    assert_same_results(report.records, expected.records)
    assert outcomes(report) == ["handled", "retried"] * 3


def test_s3_notifications_read_the_stamp_once_per_distinct_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The carrier is the object's ContentType and Metadata: equal ones (each response its
    own dict) are read once; a change of either is read again."""
    from versioned_msgs._core.stamp import Stamp

    calls: list[Any] = []
    read = Stamp.from_s3_metadata

    def counting(cls: Any, metadata: Any, *, content_type: str | None = None) -> Any:
        calls.append((dict(metadata), content_type))
        return read(metadata, content_type=content_type)

    monkeypatch.setattr(Stamp, "from_s3_metadata", classmethod(counting))
    kinds = [
        ObjectKind(),
        ObjectKind(),
        ObjectKind(obj="octet-stream"),
        ObjectKind(obj="octet-stream"),
        ObjectKind(obj="user-metadata"),
        ObjectKind(),
    ]
    harness, s3 = s3_harness()
    event = {"Records": [s3_notification_record(k, i, s3) for i, k in enumerate(kinds)]}
    _, fast, handed_back = run(harness.consumer, event)
    assert (fast, handed_back) == (6, Counter())
    stamp = {"vmsg-type": "order.created", "vmsg-version": "2"}
    assert calls == [
        (stamp, "application/json"),
        (stamp, "binary/octet-stream"),
        ({**stamp, "tenant": "acme"}, "application/json"),
    ]


def test_s3_metadata_equal_as_dicts_in_another_order_is_read_once_when_no_keys_collide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same metadata items in two orders (a user key after the stamp, then before it,
    no two keys equal lowercased): the stamp is read once, and each record gets exactly the
    reference path's result."""
    from versioned_msgs._core.stamp import Stamp

    calls: list[Any] = []
    read = Stamp.from_s3_metadata

    def counting(cls: Any, metadata: Any, *, content_type: str | None = None) -> Any:
        calls.append(list(metadata))
        return read(metadata, content_type=content_type)

    kinds = [ObjectKind(obj="user-metadata" if i % 2 else "reordered") for i in range(6)]
    reference, ref_s3 = s3_harness()
    records = [s3_notification_record(k, i, ref_s3) for i, k in enumerate(kinds)]
    first, second = ref_s3.objects["orders/0.json"], ref_s3.objects["orders/1.json"]
    assert first.metadata == second.metadata
    assert list(first.metadata) != list(second.metadata)
    expected = reference.consumer._process({"Records": copy.deepcopy(records)}, fast=False)
    fast, fast_s3 = s3_harness()
    fast_s3.objects = ref_s3.objects
    monkeypatch.setattr(Stamp, "from_s3_metadata", classmethod(counting))
    report, done, handed_back = run(fast.consumer, {"Records": copy.deepcopy(records)})
    assert (done, handed_back) == (6, Counter())
    assert_same_results(report.records, expected.records)
    assert fast_s3.requests == ref_s3.requests
    assert calls == [list(first.metadata)]


def test_s3_metadata_changed_in_place_between_invocations_is_read_again() -> None:
    """A client answering every GetObject of an object with the same Metadata dict, changed
    in place between two invocations (a trace context added, then the version changed): the
    second and third invocations get the reference path's results, not the first's stamp."""
    reference, ref_s3 = s3_harness()
    records = [s3_notification_record(ObjectKind(), i, ref_s3) for i in range(3)]
    fast, fast_s3 = s3_harness()
    fast_s3.objects = ref_s3.objects
    shared = dict(ref_s3.objects["orders/0.json"].metadata)
    for stored in ref_s3.objects.values():
        stored.metadata = shared
    get_object = fast_s3.get_object

    def same_dict(**request: Any) -> dict[str, Any]:
        resp = get_object(**request)
        resp["Metadata"] = shared
        return resp

    fast_s3.get_object = same_dict  # type: ignore[method-assign]
    for change in (None, ("traceparent", TRACEPARENT % 1), ("vmsg-version", "1")):
        if change is not None:
            shared[change[0]] = change[1]
        expected = reference.consumer._process({"Records": copy.deepcopy(records)}, fast=False)
        report, done, handed_back = run(fast.consumer, {"Records": copy.deepcopy(records)})
        assert (done, handed_back) == (3, Counter())
        assert_same_results(report.records, expected.records)


@pytest.mark.parametrize(
    ("kind", "reader", "outcome", "reason"),
    [
        (ObjectKind(obj="gone"), (None, None), "skipped", "object"),
        (ObjectKind(note="stale-etag"), (None, None), "skipped", "object"),
        (ObjectKind(obj="unreachable"), (None, None), "failed", "object"),
        (ObjectKind(note="arn-bucket"), (None, None), "rejected", "object"),
        (ObjectKind(), (None, frozenset({"other-bucket"})), "rejected", "object"),
        (ObjectKind(), (10, None), "rejected", "object"),  # the event's size
        (ObjectKind(note="size-lie"), (10, None), "rejected", "object"),  # ContentLength
        (ObjectKind(obj="no-length"), (10, None), "rejected", "object"),  # the body read
        (ObjectKind(obj="malformed-stamp"), (None, None), "rejected", "no fast plan"),
        (ObjectKind(obj="mangled-key"), (None, None), "rejected", "no fast plan"),
        (ObjectKind(obj="half-stamp"), (None, None), "rejected", "no fast plan"),
        (ObjectKind(obj="no-metadata"), (None, None), "rejected", "no fast plan"),
        (ObjectKind(obj="metadata-mapping"), (None, None), "handled", "no fast plan"),
        (ObjectKind(obj="text-content"), (None, None), "rejected", "no fast plan"),
        (ObjectKind(obj="not-json"), (None, None), "rejected", "body"),
    ],
    ids=lambda v: v.obj + "-" + v.note if isinstance(v, ObjectKind) else None,
)
def test_s3_objects_the_fast_path_does_not_finish_are_read_once_and_finished_as_the_reference_path(
    kind: ObjectKind,
    reader: tuple[int | None, frozenset[str] | None],
    outcome: str,
    reason: str,
) -> None:
    """Objects that cannot be read (gone, superseded, unreachable, a bucket not allowed,
    larger than max_bytes by the event's size, the response's ContentLength or the body
    read) and objects read but not decodable on the fast path (malformed or absent stamps):
    handed back for the reason given, never read again, with the reference path's result."""
    reference, ref_s3 = s3_harness(reader=reader)
    records = [s3_notification_record(kind, 0, ref_s3)]
    expected = reference.consumer._process({"Records": copy.deepcopy(records)}, fast=False)
    fast, fast_s3 = s3_harness(reader=reader)
    fast_s3.objects = ref_s3.objects
    report, done, handed_back = run(fast.consumer, {"Records": copy.deepcopy(records)})
    assert (done, handed_back) == (0, Counter({reason: 1}))
    assert_same_results(report.records, expected.records)
    assert outcomes(report) == [outcome]
    assert fast_s3.requests == ref_s3.requests
    assert sum(n for (op, _), n in fast_s3.requests.items() if op == "GetObject") <= 1


# ---- EventBridge -> Lambda -------------------------------------------------------------------

#: EVENTS whose invocation is no EventBridge event, or that Lambda's runtime would not tell
#: apart from another (pretty-printing)
_NOT_INVOCATIONS = ("spaced", "sns-keys", "records-key", "null-keys", "s3-records")
_NOT_INVOCATIONS += ("s3-test-event", "no-source", "no-detail-type")
LAMBDA_EVENTS = (
    *(e for e in EVENTS if e not in _NOT_INVOCATIONS),
    "lone-surrogate",  # a string Lambda decoded from "\ud800": cannot be encoded again
    "big-float",  # a float the JSON encoder cannot write (inf)
    "no-id",
    "numeric-id",
)


def eventbridge_lambda_event(kind: EventKind, i: int) -> dict[str, Any]:
    """The EventBridge event Lambda is invoked with, decoded as Lambda's runtime decodes it."""
    text = eventbridge_record(
        EventKind(kind.payload, kind.event if kind.event in EVENTS else "as-sent"), i
    )["body"]
    event: dict[str, Any] = json.loads(text)
    data = event["detail"].get("data") if isinstance(event["detail"], dict) else None
    if kind.event == "lone-surrogate" and isinstance(data, dict):
        data["note"] = "\ud800"
    elif kind.event == "big-float" and isinstance(data, dict):
        data["qty"] = float("inf")
    elif kind.event == "no-id":
        del event["id"]
    elif kind.event == "numeric-id":
        event["id"] = 7
    return event


@settings(max_examples=150, deadline=None)
@given(
    config=configs,
    kind=st.builds(
        EventKind, payload=st.sampled_from(PAYLOADS), event=st.sampled_from(LAMBDA_EVENTS)
    ),
    fails=st.booleans(),
)
def test_an_eventbridge_invocation_gets_what_the_reference_path_gives_it(
    config: Config, kind: EventKind, fails: bool
) -> None:
    """EventBridge events invoking Lambda (members reordered, extra or missing, the payload
    bare, an S3 object event, malformed or traced stamps, data that cannot be encoded
    again, ids missing or not strings), under any policies, the handler raising or not:
    the reference path's result."""
    assert_same_as_reference(
        config, frozenset({0} if fails else ()), eventbridge_lambda_event(kind, 0)
    )


@pytest.mark.parametrize("payload", ["v1", "v2"])
def test_the_fast_path_finishes_an_eventbridge_invocation(payload: str) -> None:
    event = eventbridge_lambda_event(EventKind(payload), 0)
    report, fast, handed_back = run(build().consumer, copy.deepcopy(event))
    assert (fast, handed_back) == (1, Counter())
    assert outcomes(report) == ["upgraded" if payload == "v1" else "handled"]
    expected = build().consumer._process(copy.deepcopy(event), fast=False)
    assert_same_results(report.records, expected.records)
