"""The SQS fast path (``sqs_fast.SqsFastPath``) against the reference path (``Consumer``).

The fast path's contract: every record of an SQS batch gets exactly the result the reference
path gives it, and the fast path finishes a record itself only when it can prove that. These
tests hold it to that:

- a hypothesis property over mixed standard-queue batches: each record gets, through
  ``process``, what it gets alone through the reference path (result, Meta, error, handler
  call, parked message);
- FIFO batches, and the other sources, compared whole with ``_process(fast=False)``;
- "the fast path ran" tests, so that a silent fallback to the reference path fails a test,
  and one showing those checks have teeth;
- regression tests for the four differences these tests found (each fixed since).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from consumer_models import (
    PRODUCER,
    InvoiceV1,
    OrderV1,
    OrderV2,
    consumer_registry,
    v1,
    v2,
    v3,
    v4,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import versioned_msgs as vm
from versioned_msgs._aws.report import FAILED_OUTCOMES
from versioned_msgs._aws.sqs_fast import SqsFastPath
from versioned_msgs._core.attributes import attributes_digest, lambda_attribute
from versioned_msgs._core.envelope import pointer_body
from versioned_msgs.testing import (
    eventbridge_event,
    kinesis_event,
    s3_event,
    sns_event,
    sns_sqs_event,
    sqs_event,
)

PARK_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/parked"
FIFO_ARN = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
#: (invoices, typed) -> registry; ``typed``: v1 upgraded by a typed upgrader
REGISTRIES = {
    (invoices, typed): consumer_registry(invoices=invoices, typed=typed)
    for invoices in (False, True)
    for typed in (False, True)
}


# ---- consumers -------------------------------------------------------------------------------


class UnreadableS3:
    """An S3 client that fails as a network error would: S3 objects fail the same way on
    both paths, and no test needs AWS."""

    def head_object(self, **kwargs: Any) -> Any:
        raise ConnectionError("no network in this test")

    get_object = head_object


class ParkQueue:
    """An SQS client recording what the consumer parks."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"MessageId": f"parked-{len(self.sent)}"}


class Log:
    """Handlers recording every call, in order, across handlers; raising for the payloads
    numbered in ``fail`` (order ids ``m<i>``, invoice numbers ``i``)."""

    def __init__(self, fail: frozenset[int] = frozenset()) -> None:
        self.calls: list[tuple[str, Any, vm.Meta]] = []
        self.refuse: set[Any] = {f"m{i}" for i in fail} | set(fail)

    def handler(self, tag: str) -> Callable[[Any, vm.Meta], None]:
        def handle(msg: Any, meta: vm.Meta) -> None:
            self.calls.append((tag, msg, meta))
            if getattr(msg, "id", getattr(msg, "number", None)) in self.refuse:
                raise RuntimeError(f"the {tag} handler refused {msg!r}")

        return handle


#: Which handlers a consumer has: the v2 (current) model, the v1 model as well (routed) or
#: alone (v2 is then newer than every handler), the invoice type handled or only registered.
HANDLERS = ("v2", "v1+v2", "v1", "v2+invoice", "v2, invoice registered")
POLICIES = ("retry", "ignore", "reject", "park")


@dataclass(frozen=True)
class Config:
    """How a consumer is set up: handlers, policies, whether it ignores v1, and whether its
    registry upgrades v1 with a typed upgrader (which fails for ``m7`` and ``m8``)."""

    handlers: str = "v2"
    on_newer: str = "retry"
    on_unknown: str = "reject"
    on_unversioned: str | int = "reject"
    ignore_v1: bool = False
    typed: bool = False


class Harness:
    """A ``vm.Consumer`` with the :class:`Log` of its handlers and its park queue."""

    def __init__(self, config: Config, fail: frozenset[int]) -> None:
        invoices = "invoice" in config.handlers
        extra: dict[str, Any] = {}
        if isinstance(config.on_unversioned, int) and invoices:
            extra["unversioned_type"] = "order.created"
        self.log = Log(fail)
        self.parked = ParkQueue()
        self.consumer = vm.Consumer(
            REGISTRIES[invoices, config.typed],
            on_newer=config.on_newer,  # type: ignore[arg-type]
            on_unknown=config.on_unknown,  # type: ignore[arg-type]
            on_unversioned=config.on_unversioned,  # type: ignore[arg-type]
            s3=UnreadableS3(),
            sqs=self.parked,
            park_queue_url=PARK_URL,
            **extra,
        )
        if config.handlers != "v1":
            self.consumer.handler(OrderV2)(self.log.handler("v2"))
        if config.handlers.startswith("v1"):
            self.consumer.handler(OrderV1)(self.log.handler("v1"))
        if config.handlers == "v2+invoice":
            self.consumer.handler(InvoiceV1)(self.log.handler("invoice"))
        if config.ignore_v1:
            self.consumer.ignore("order.created", versions=[1])

    @property
    def stats(self) -> Any:
        return self.consumer._fast_stats


def build(config: Config | None = None, fail: frozenset[int] = frozenset()) -> Harness:
    """A fresh consumer set up as ``config`` says, its handlers failing for ``fail``."""
    return Harness(config or Config(), fail)


def view(r: vm.RecordResult) -> tuple[Any, ...]:
    """What must be equal between the two paths: outcome, id, Meta (its ``record`` the raw
    record), and the error's type and text."""
    err = r.error
    return (r.outcome, r.message_id, r.meta, type(err), None if err is None else str(err))


def assert_same_results(got: list[vm.RecordResult], expected: list[vm.RecordResult]) -> None:
    """Record by record, with a message naming the first record that differs."""
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if view(g) != view(e):
            detail = [
                (name, a, b)
                for name, a, b in zip(
                    ("outcome", "id", "meta", "type", "text"), view(g), view(e), strict=True
                )
                if a != b
            ]
            raise AssertionError(f"record {i} differs (field, process, reference): {detail}")


def response_of(results: list[vm.RecordResult]) -> dict[str, Any]:
    """The SQS response the results call for."""
    return {
        "batchItemFailures": [
            {"itemIdentifier": r.message_id} for r in results if r.outcome in FAILED_OUTCOMES
        ]
    }


# ---- SQS records -----------------------------------------------------------------------------

PAYLOADS = ("v1", "v2", "v3", "v4", "invoice")
#: Changes to the stamp attributes (after the record was built, and after a "stale" digest).
STAMPS = (
    "as-is",
    "producer",  # vmsg-producer added
    "json-content",  # vmsg-content-type application/json, the default, spelt out
    "no-readable-by",  # v3 then newer and not readable
    "readable-by-1",
    "readable-by-2",  # invalid below v2 (readable_by > version)
    "unstamped",  # every vmsg-* attribute removed
    "version-as-string",  # vmsg-version with DataType String: malformed
    "version-02",  # not a canonical number: malformed
    "type-as-number",  # vmsg-type with DataType Number: malformed
    "text-content",  # vmsg-content-type text/plain
    "mixed-shapes",  # vmsg-version also carrying boto3's StringValue/DataType: another value
)
#: The record's body. The nested sources (SNS envelope, S3 notification, S3 test event,
#: EventBridge event) come unstamped, as AWS delivers them.
BODIES = (
    "plain",
    "spaced",  # leading whitespace
    "late-key",  # a first key sorting after "vmsg"
    "vmsg-key",  # a "vmsg" key that is not the first: not an envelope
    "misfit",  # JSON that fits no model
    "truncated",  # invalid JSON
    "not-json",
    "array",
    "embedded",  # the embedded envelope (stamp attributes kept, unless "unstamped")
    "sns",  # an SNS notification in the body (pretty-printed), attributes inside it
    "s3-notification",  # read from S3: fails (no network)
    "s3-test",  # s3:TestEvent: skipped
    "eventbridge",  # an EventBridge event in the body
    "pointer",  # an extended client's S3 pointer: fails (no network)
)
NESTED = frozenset({"sns", "s3-notification", "s3-test", "eventbridge"})
#: The user's attributes: a constant one, a per-message trace id, a per-message Number, a
#: Binary one.
USERS = ("none", "tenant", "trace", "trace+seq", "binary")
#: md5OfMessageAttributes: absent, SQS's, made up (equal across records), or stale (SQS's
#: digest of the attributes before the record's stamp and per-message attributes were set:
#: equal for records whose attributes differ, the bug class of borrowed stamps).
DIGESTS = ("none", "right", "made-up", "stale")


@dataclass(frozen=True)
class Kind:
    """One kind of SQS record (see PAYLOADS, STAMPS, BODIES, USERS)."""

    payload: str = "v2"
    stamp: str = "as-is"
    body: str = "plain"
    user: str = "tenant"


def message_id(i: int) -> str:
    return str(uuid.UUID(int=0x5EED0000 + i))


def encoded(payload: str, i: int) -> vm.Encoded:
    if payload == "invoice":
        return PRODUCER.encode(InvoiceV1(number=i))
    return {"v1": v1, "v2": v2, "v3": v3, "v4": v4}[payload](f"m{i}")


def user_attributes(user: str, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(constant, per-message) user attributes of record ``i``."""
    constant: dict[str, Any] = {} if user == "none" else {"tenant": "acme"}
    per_message: dict[str, Any] = {}
    if user.startswith("trace"):
        per_message["trace"] = f"t{i}"
    if user == "trace+seq":
        per_message["seq"] = i
    if user == "binary":
        constant["blob"] = b"\x00\x01"
    return constant, per_message


def set_attribute(attrs: dict[str, Any], name: str, data_type: str, value: str) -> None:
    attrs[name] = lambda_attribute({"DataType": data_type, "StringValue": value})


def change_stamp(attrs: dict[str, Any], stamp: str) -> None:
    """Apply one of STAMPS to Lambda-shaped attributes."""
    if stamp == "producer":
        set_attribute(attrs, "vmsg-producer", "String", "billing")
    elif stamp == "json-content":
        set_attribute(attrs, "vmsg-content-type", "String", "application/json")
    elif stamp == "text-content":
        set_attribute(attrs, "vmsg-content-type", "String", "text/plain")
    elif stamp == "no-readable-by":
        attrs.pop("vmsg-readable-by", None)
    elif stamp.startswith("readable-by-"):
        set_attribute(attrs, "vmsg-readable-by", "Number", stamp[-1])
    elif stamp == "unstamped":
        for name in [k for k in attrs if k.startswith("vmsg-")]:
            del attrs[name]
    elif stamp == "version-as-string":
        attrs["vmsg-version"]["dataType"] = "String"
    elif stamp == "version-02":
        attrs["vmsg-version"]["stringValue"] = "0" + attrs["vmsg-version"]["stringValue"]
    elif stamp == "type-as-number":
        attrs["vmsg-type"]["dataType"] = "Number"
    elif stamp == "mixed-shapes":
        version = attrs["vmsg-version"]
        other = "2" if version["stringValue"] == "1" else "1"
        version.update({"StringValue": other, "DataType": "Number"})


def body_of(kind: Kind, enc: vm.Encoded, i: int) -> str:
    plain = enc.body.decode()
    if kind.body == "spaced":
        return " " + plain
    if kind.body == "late-key":
        return '{"zz":0,' + plain[1:]
    if kind.body == "vmsg-key":
        return plain[:-1] + ',"vmsg":{"type":"x","version":9}}'
    if kind.body == "misfit":
        return '{"id":5,"qty":"x","number":"x","quantity":"x"}'
    if kind.body == "truncated":
        return plain[:-1]
    if kind.body == "not-json":
        return "not json at all"
    if kind.body == "array":
        return "[1,2,3]"
    if kind.body == "embedded":
        return enc.embedded().decode()
    if kind.body == "s3-notification":
        return json.dumps(s3_event("bucket", f"objects/{i}.json", "etag", size=10))
    if kind.body == "s3-test":
        return json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    if kind.body == "eventbridge":
        return json.dumps(eventbridge_event(enc))
    if kind.body == "pointer":
        return pointer_body("bucket", f"payloads/{i}").decode()
    return plain


def sqs_record(kind: Kind, i: int, digest: str = "none", made_up: str = "0" * 32) -> dict[str, Any]:
    """Record ``i`` of a standard queue's batch: payload id ``m<i>`` (invoice number
    ``i``), messageId :func:`message_id` (i)."""
    enc = encoded(kind.payload, i)
    constant, per_message = user_attributes(kind.user, i)
    rec: dict[str, Any]
    if kind.body == "sns":
        rec = sns_sqs_event(enc, attributes={**constant, **per_message})["Records"][0]
        pristine = attributes_digest(rec["messageAttributes"])
    else:
        rec = sqs_event(enc, attributes=constant)["Records"][0]
        attrs = rec["messageAttributes"]
        pristine = attributes_digest(attrs)
        for name, value in per_message.items():
            data_type = "Number" if isinstance(value, int) else "String"
            set_attribute(attrs, name, data_type, str(value))
        change_stamp(attrs, "unstamped" if kind.body in NESTED else kind.stamp)
        if kind.body == "pointer":
            set_attribute(attrs, "ExtendedPayloadSize", "Number", "10")
        rec["body"] = body_of(kind, enc, i)
    rec["messageId"] = message_id(i)
    if digest == "right":
        rec["md5OfMessageAttributes"] = attributes_digest(rec["messageAttributes"])
    elif digest == "made-up":
        rec["md5OfMessageAttributes"] = made_up
    elif digest == "stale":
        rec["md5OfMessageAttributes"] = pristine
    return rec


def fifo(rec: dict[str, Any], group: str, i: int, *, sequence: bool = True) -> dict[str, Any]:
    """Make ``rec`` record ``i`` of a FIFO queue's batch (``sequence=False``: of a standard
    queue with message groups, a fair queue)."""
    system = rec["attributes"]
    system["MessageGroupId"] = group
    if sequence:
        system["SequenceNumber"] = str(18849496460467696128 + i)
        system["MessageDeduplicationId"] = f"dedup-{i}"
        rec["eventSourceARN"] = FIFO_ARN
    return rec


# ---- strategies ------------------------------------------------------------------------------

any_kind = st.builds(
    Kind,
    payload=st.sampled_from(PAYLOADS),
    stamp=st.sampled_from(STAMPS),
    body=st.sampled_from(BODIES),
    user=st.sampled_from(USERS),
)
#: Records the fast path finishes itself (for the usual consumer): drawn often, so uniform
#: batches take the batch-level path.
fast_kind = st.builds(
    Kind,
    payload=st.sampled_from(("v1", "v2")),
    stamp=st.sampled_from(("as-is", "producer", "json-content", "readable-by-1")),
    body=st.sampled_from(("plain", "late-key")),
    user=st.sampled_from(USERS),
)
#: Valid payloads under every stamp variation: drawn often for the odd record of a batch,
#: so that a record borrowing another's table entry shows.
stamp_kind = st.builds(
    Kind,
    payload=st.sampled_from(("v1", "v2")),
    stamp=st.sampled_from(STAMPS),
    body=st.sampled_from(("plain", "late-key")),
    user=st.sampled_from(USERS),
)
configs = st.builds(
    Config,
    handlers=st.sampled_from(("v2", *HANDLERS)),  # the usual consumer more often
    on_newer=st.sampled_from(POLICIES),
    on_unknown=st.sampled_from(POLICIES),
    on_unversioned=st.sampled_from((*POLICIES, 1, 2)),
    ignore_v1=st.integers(0, 3).map(lambda n: n == 0),
    typed=st.booleans(),
)


@dataclass
class Batch:
    """Records and the payload numbers whose handler call raises."""

    records: list[dict[str, Any]]
    fail: frozenset[int]


@st.composite
def batches(draw: st.DrawFn, *, queue: str = "standard") -> Batch:
    """A batch of up to 10 records: uniform (one kind), one record differing, or mixed;
    each record with its own digest mode. ``queue``: "standard" (some batches with message
    groups, a fair queue) or "fifo" (one group, or several interleaved)."""
    shape = draw(st.sampled_from(("uniform", "uniform", "one differs", "mixed")))
    if shape == "mixed":
        kinds = draw(st.lists(st.one_of(fast_kind, stamp_kind, any_kind), min_size=1, max_size=10))
    else:
        kinds = [draw(st.one_of(fast_kind, fast_kind, any_kind))] * draw(st.integers(2, 10))
        if shape == "one differs" and len(kinds) > 1:
            kinds[draw(st.integers(0, len(kinds) - 1))] = draw(st.one_of(stamp_kind, any_kind))
    n = len(kinds)
    if draw(st.booleans()):
        digests = [draw(st.sampled_from(DIGESTS))] * n
    else:
        digests = draw(st.lists(st.sampled_from(DIGESTS), min_size=n, max_size=n))
    made_up = draw(st.sampled_from(("0" * 32, "d41d8cd98f00b204e9800998ecf8427e")))
    records = [
        sqs_record(k, i, d, made_up) for i, (k, d) in enumerate(zip(kinds, digests, strict=True))
    ]
    groups: list[str] | None = None
    if queue == "fifo":
        if draw(st.booleans()):
            groups = [draw(st.sampled_from(("g1", "g2")))] * n
        else:
            groups = draw(st.lists(st.sampled_from(("g1", "g2", "g3")), min_size=n, max_size=n))
    elif draw(st.integers(0, 7)) == 0:
        groups = draw(st.lists(st.sampled_from(("t1", "t2")), min_size=n, max_size=n))
    if groups is not None:
        records = [
            fifo(r, g, i, sequence=queue == "fifo")
            for i, (r, g) in enumerate(zip(records, groups, strict=True))
        ]
    fail = draw(st.frozensets(st.integers(0, n - 1), max_size=3))
    return Batch(records, fail)


# ---- 1. standard queues: each record gets what it gets alone ---------------------------------


@settings(max_examples=400, deadline=None)
@given(config=configs, batch=batches())
def test_each_record_of_a_standard_batch_gets_what_it_gets_alone(
    config: Config, batch: Batch
) -> None:
    """Any standard-queue batch (mixed versions, readable_by and producer or not, SNS
    notifications and envelopes as bodies, per-message attributes, right / absent / made-up
    / stale digests, unknown types, unstamped, malformed stamps, bodies that are not JSON or
    fit no model, S3 reads that fail, handlers that raise), under any policies: through
    ``process`` every record gets the result it gets alone through the reference path (same
    outcome, id, Meta, error type and text), the handlers receive the same calls in the same
    order, the same messages are parked, the event is left unchanged and the response lists
    exactly the failed records. A second run, with the fast path's tables warm, gives the
    same; no record is handed back for an unexpected exception."""
    assert_each_record_alone(config, batch.records, batch.fail)


def assert_each_record_alone(config: Config, records: list[Any], fail: frozenset[int]) -> None:
    """A standard queue's batch: through ``process`` (twice: tables cold, then warm) each
    record gets what it gets alone through the reference path; same handler calls, same
    parked messages, the event unchanged, no "unexpected" hand-back."""
    reference = build(config, fail)
    alone = [
        reference.consumer._process({"Records": [copy.deepcopy(r)]}, fast=False).records[0]
        for r in records
    ]
    fast = build(config, fail)
    event = {"Records": copy.deepcopy(records)}
    before = copy.deepcopy(event)
    for _ in range(2):
        fast.log.calls.clear()
        fast.parked.sent.clear()
        report = fast.consumer.process(event, None)
        assert_same_results(report.records, alone)
        assert report.response == response_of(alone)
        assert fast.log.calls == reference.log.calls
        assert fast.parked.sent == reference.parked.sent
        assert event == before
        assert "unexpected" not in fast.stats.handed_back, fast.stats


class Loose(msgspec.Struct):
    """A model every JSON object fits (nothing required): an embedded envelope decodes into
    it without error, so only the body check keeps envelopes from it."""

    id: str = ""
    qty: int = 0


@pytest.mark.parametrize("trace", [False, True], ids=["equal-attributes", "trace-id"])
def test_envelopes_among_plain_bodies_for_a_model_every_object_fits(trace: bool) -> None:
    """With a model that an envelope would fit, envelope bodies (stamped by attributes or
    alone) among plain ones get the reference path's results: the envelope's data, never
    the envelope itself, reaches the handler."""
    registry = vm.Registry()
    registry.message("order.created", version=1)(Loose)
    encoded_ = [registry.encode(Loose(id=f"m{i}", qty=i)) for i in range(4)]
    event = sqs_event(*encoded_, attributes={"tenant": "acme"})
    records = event["Records"]
    for i in (1, 3):
        records[i]["body"] = encoded_[i].embedded().decode()
    if trace:
        traced(event)

    def consumer() -> tuple[vm.Consumer, list[Any]]:
        got: list[Any] = []
        c = vm.Consumer(registry)
        c.handler(Loose)(lambda msg, meta: got.append(msg))
        return c, got

    fast, got = consumer()
    reference, expected = consumer()
    report = fast.process(copy.deepcopy(event), None)
    assert_same_results(report.records, reference._process(event, fast=False).records)
    assert got == expected == [Loose(id=f"m{i}", qty=i) for i in range(4)]


@pytest.mark.parametrize("stamp", STAMPS)
@pytest.mark.parametrize("user", ["tenant", "trace"])
def test_a_record_with_a_changed_stamp_lends_and_borrows_nothing(stamp: str, user: str) -> None:
    """The bug class the property guards against, spelt out for every stamp change: a
    record whose stamp attributes were edited (after SQS's digest was computed: its digest
    is its neighbours'), first in the batch or among them, before or after records at
    another version: every record gets what it gets alone, in this batch and in the next
    (the fast path's table then warm)."""
    for payload in ("v1", "v2"):
        for where in (0, 2):
            kinds = [Kind("v2" if i % 3 else "v1", user=user) for i in range(5)]
            kinds[where] = Kind(payload, stamp, user=user)
            records = [sqs_record(k, i, "stale") for i, k in enumerate(kinds)]
            reference = build()
            alone = [
                reference.consumer._process({"Records": [copy.deepcopy(r)]}, fast=False).records[0]
                for r in records
            ]
            harness = build()
            for _ in range(2):
                report = harness.consumer.process({"Records": copy.deepcopy(records)}, None)
                assert_same_results(report.records, alone)


# ---- 2. FIFO and the other sources: the whole batch as the reference path gives it -----------


def assert_same_as_reference(config: Config, fail: frozenset[int], event: Any) -> vm.Report:
    """``process(event)`` and ``_process(event, fast=False)`` on identically configured
    fresh consumers: equal results, response, handler calls and parked messages."""
    fast = build(config, fail)
    reference = build(config, fail)
    report = fast.consumer.process(copy.deepcopy(event), None)
    expected = reference.consumer._process(copy.deepcopy(event), fast=False)
    assert_same_results(report.records, expected.records)
    assert report.response == expected.response
    assert report.source == expected.source
    assert fast.log.calls == reference.log.calls
    assert fast.parked.sent == reference.parked.sent
    assert "unexpected" not in fast.stats.handed_back, fast.stats
    return report


@settings(max_examples=250, deadline=None)
@given(config=configs, batch=batches(queue="fifo"))
def test_a_fifo_batch_gets_what_the_reference_path_gives_it(config: Config, batch: Batch) -> None:
    """FIFO batches (one message group, or several interleaved), any record kinds and
    handler failures: ``process`` gives the reference path's results and response for the
    whole batch, each group stopping at its first failure (later records retried)."""
    assert_same_as_reference(config, batch.fail, {"Records": batch.records})


def test_fifo_groups_stop_at_their_first_failure_on_both_paths() -> None:
    """Two interleaved groups, a handler failure in the middle of g1 and a newer record
    retried in g2: the later records of each group are retried unprocessed, as in the
    reference path, and the other group's earlier records are handled."""
    kinds = [Kind("v2"), Kind("v1"), Kind("v2"), Kind("v4"), Kind("v2"), Kind("v1"), Kind("v2")]
    groups = ["g1", "g2", "g1", "g2", "g1", "g2", "g1"]
    event = {
        "Records": [
            fifo(sqs_record(k, i), g, i) for i, (k, g) in enumerate(zip(kinds, groups, strict=True))
        ]
    }
    report = assert_same_as_reference(Config(), frozenset({2}), event)
    assert [r.outcome for r in report.records] == [
        "handled",
        "upgraded",
        "failed",
        "retried",
        "retried",
        "retried",
        "retried",
    ]
    assert "message group 'g1'" in str(report.records[4].error)


def test_a_fifo_batch_built_by_sqs_event_keeps_its_order() -> None:
    """``sqs_event(..., group_id=...)``: one group, a failure at the second record: the
    rest of the batch is retried, on both paths."""
    event = sqs_event(v2("m0"), v2("m1"), v1("m2"), v2("m3"), group_id="g")
    report = assert_same_as_reference(Config(), frozenset({1}), event)
    assert [r.outcome for r in report.records] == ["handled", "failed", "retried", "retried"]


@settings(max_examples=60, deadline=None)
@given(
    config=configs,
    payloads=st.lists(st.sampled_from(PAYLOADS), min_size=1, max_size=6),
    fail=st.frozensets(st.integers(0, 5), max_size=2),
    shards=st.lists(st.sampled_from(("shardId-000000000000", "shardId-000000000001")), max_size=6),
    broken=st.none() | st.integers(0, 5),
)
def test_kinesis_shards_keep_their_order_as_in_the_reference_path(
    config: Config,
    payloads: list[str],
    fail: frozenset[int],
    shards: list[str],
    broken: int | None,
) -> None:
    """Kinesis batches over one or two shards (stamps at every version, a record whose data
    is not base64, handler failures): ``process`` gives the reference path's results and
    response, each shard stopping at its first failure."""
    event = kinesis_event(*(encoded(p, i) for i, p in enumerate(payloads)))
    for rec, shard in zip(event["Records"], shards, strict=False):  # shards may be fewer
        rec["eventID"] = f"{shard}:{rec['kinesis']['sequenceNumber']}"
    if broken is not None and broken < len(payloads):
        event["Records"][broken]["kinesis"]["data"] = "not base64!"
    assert_same_as_reference(config, fail, event)


@settings(max_examples=40, deadline=None)
@given(
    config=configs,
    payloads=st.lists(st.sampled_from(PAYLOADS), min_size=1, max_size=4),
    fail=st.frozensets(st.integers(0, 3), max_size=2),
    user=st.sampled_from(USERS),
)
def test_sns_events_get_what_the_reference_path_gives_them(
    config: Config, payloads: list[str], fail: frozenset[int], user: str
) -> None:
    """SNS→Lambda events (stamps at every version, user attributes, handler failures):
    ``process`` gives the reference path's results (the SNS path has no shortcut today;
    this frames a future one)."""
    constant, per_message = user_attributes(user, 0)
    event = sns_event(
        *(encoded(p, i) for i, p in enumerate(payloads)), attributes={**constant, **per_message}
    )
    assert_same_as_reference(config, fail, event)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("fails", [False, True], ids=["handler-ok", "handler-raises"])
def test_eventbridge_events_get_what_the_reference_path_gives_them(
    payload: str, fails: bool
) -> None:
    """An EventBridge event at each version, its handler succeeding or raising: the
    reference path's result."""
    event = eventbridge_event(encoded(payload, 0))
    assert_same_as_reference(Config(), frozenset({0} if fails else ()), event)


@pytest.mark.parametrize(
    ("event_name", "outcome"),
    [("ObjectCreated:Put", "failed"), ("ObjectRemoved:Delete", "skipped")],
)
def test_s3_notifications_get_what_the_reference_path_gives_them(
    event_name: str, outcome: str
) -> None:
    """S3→Lambda notifications need no AWS here: a created object cannot be read (the
    client fails like a network error) and fails the same way on both paths; a removed
    object is skipped without a read."""
    event = s3_event("bucket", "objects/a b.json", "etag", event_name=event_name, size=10)
    report = assert_same_as_reference(Config(), frozenset(), event)
    assert [r.outcome for r in report.records] == [outcome]


# ---- 3. the fast path ran where it should ----------------------------------------------------


def run(consumer: vm.Consumer, event: Any) -> tuple[vm.Report, int, Counter[str]]:
    """``consumer.process(event)``, with how many records the fast path finished during the
    call and what it handed back."""
    stats = consumer._fast_stats
    fast_before, back_before = stats.fast, Counter(stats.handed_back)
    report = consumer.process(event, None)
    handed_back = Counter(stats.handed_back)
    handed_back.subtract(back_before)
    return report, stats.fast - fast_before, +handed_back


def assert_ran_fast(consumer: vm.Consumer, event: Any) -> vm.Report:
    """Every record of ``event`` finished by the fast path, none handed back."""
    report, fast, handed_back = run(consumer, event)
    assert handed_back == Counter()
    assert fast == len(event["Records"])
    return report


def outcomes(report: vm.Report) -> list[str]:
    return [r.outcome for r in report.records]


def uniform(n: int = 5, **options: Any) -> dict[str, Any]:
    """A standard queue's batch of v2 orders, equal attributes throughout."""
    return sqs_event(*(v2(f"m{i}", i) for i in range(n)), attributes={"tenant": "acme"}, **options)


def with_digests(event: dict[str, Any]) -> dict[str, Any]:
    for rec in event["Records"]:
        rec["md5OfMessageAttributes"] = attributes_digest(rec["messageAttributes"])
    return event


def _traced_first(event: dict[str, Any], n: int) -> dict[str, Any]:
    """Give the first ``n`` records a trace id attribute of their own."""
    for i, rec in enumerate(event["Records"][:n]):
        set_attribute(rec["messageAttributes"], "trace", "String", f"trace-{i}")
    return event


def traced(event: dict[str, Any]) -> dict[str, Any]:
    """Give every record its own trace id attribute."""
    for i, rec in enumerate(event["Records"]):
        set_attribute(rec["messageAttributes"], "trace", "String", f"trace-{i}")
    return event


RAN_FAST = {
    "uniform": lambda: uniform(),
    "mixed versions": lambda: sqs_event(v1("m0"), v2("m1"), v2("m2"), v1("m3"), v2("m4")),
    "per-message trace id": lambda: traced(uniform()),
    "trace id and mixed versions": lambda: traced(sqs_event(v2("a"), v1("b"), v2("c"), v1("d"))),
    # past eight loads without a reusable snapshot: snapshots stop for the rest of the batch
    "trace id and mixed versions, 20 records": lambda: traced(
        sqs_event(*((v1 if i % 3 else v2)(f"m{i}") for i in range(20)))
    ),
    "trace id on the first ten, then equal attributes": lambda: _traced_first(
        sqs_event(*((v1 if i % 2 else v2)(f"m{i}") for i in range(20))), 10
    ),
    "fifo": lambda: uniform(group_id="g1"),
    "sqs digests": lambda: with_digests(uniform()),
    "sqs digests, mixed": lambda: with_digests(traced(sqs_event(v1("m0"), v2("m1"), v1("m2")))),
    "producer and content type": lambda: sqs_event(
        *(PRODUCER.encode(OrderV2(id=f"m{i}", qty=i), producer="billing") for i in range(4))
    ),
}


@pytest.mark.parametrize("name", list(RAN_FAST))
def test_the_fast_path_finishes_every_record_of_a_plain_batch(name: str) -> None:
    """A uniform batch, mixed versions (v1 upgraded and v2), a per-message trace id, a FIFO
    batch, SQS's digests: the fast path finishes every record (``stats.fast`` grows by the
    number of records, nothing handed back), and the results are the reference path's."""
    event = RAN_FAST[name]()
    consumer = build().consumer
    report = assert_ran_fast(consumer, event)
    expected = build().consumer._process(copy.deepcopy(event), fast=False)
    assert_same_results(report.records, expected.records)
    assert set(outcomes(report)) <= {"handled", "upgraded"}


@pytest.mark.parametrize(
    "versions", [["v1"] * 6, ["v1", "v2", "v1", "v1", "v2", "v1"]], ids=["uniform", "mixed"]
)
def test_the_fast_path_finishes_every_record_upgraded_by_a_typed_upgrader(
    versions: list[str],
) -> None:
    """v1 records upgraded by a typed upgrader (decoded straight into the v1 model) are
    finished by the fast path, alone or among v2 records, with the reference path's
    results; the records the typed upgrader fails for (``m7`` raises, ``m8`` returns a
    dict) are handed back as "decode" and rejected as the reference path rejects them."""
    event = sqs_event(*({"v1": v1, "v2": v2}[v](f"m{i}") for i, v in enumerate(versions)))
    consumer = build(Config(typed=True)).consumer
    report = assert_ran_fast(consumer, event)
    expected = build(Config(typed=True)).consumer._process(copy.deepcopy(event), fast=False)
    assert_same_results(report.records, expected.records)
    assert outcomes(report) == ["upgraded" if v == "v1" else "handled" for v in versions]

    failing = sqs_event(v1("m6"), v1("m7"), v1("m8"), v1("m9"))
    report, fast, handed_back = run(consumer, failing)
    assert (fast, handed_back) == (2, Counter({"decode": 2}))
    assert outcomes(report) == ["upgraded", "rejected", "rejected", "upgraded"]
    expected = build(Config(typed=True)).consumer._process(copy.deepcopy(failing), fast=False)
    assert_same_results(report.records, expected.records)


def test_the_fast_path_finishes_the_records_of_a_handler_that_raises() -> None:
    """A handler raising is the record's failure, not a reason to hand it back: the fast
    path finishes it (failed) and the rest of the batch."""
    consumer = build(fail=frozenset({1, 3})).consumer
    report = assert_ran_fast(consumer, uniform())
    assert outcomes(report) == ["handled", "failed", "handled", "failed", "handled"]


def test_a_failed_fifo_group_hands_its_later_records_back() -> None:
    """FIFO: once a record of g1 failed, its later records are handed back ("stopped
    group") and retried; g2's records are still finished by the fast path."""
    event = uniform(4, group_id="g1")
    for i, rec in enumerate(event["Records"]):
        if i % 2:
            rec["attributes"]["MessageGroupId"] = "g2"
    consumer = build(fail=frozenset({0})).consumer
    report, fast, handed_back = run(consumer, event)
    assert outcomes(report) == ["failed", "handled", "retried", "handled"]
    assert (fast, handed_back) == (3, Counter({"stopped group": 1}))


HANDED_BACK = {
    # name: (record kind, reason)
    "unstamped": (Kind(stamp="unstamped"), "no fast plan"),
    "malformed version": (Kind(stamp="version-02"), "no fast plan"),
    "unknown type": (Kind(payload="invoice"), "no fast plan"),
    "newer, not readable": (Kind(payload="v4"), "no fast plan"),
    "newer, readable (tolerated)": (Kind(payload="v3"), "no fast plan"),
    "text content type": (Kind(stamp="text-content"), "no fast plan"),
    "embedded envelope": (Kind(body="embedded"), "body"),
    "envelope alone": (Kind(stamp="unstamped", body="embedded"), "body"),
    "sns in sqs": (Kind(body="sns"), "body"),
    "not json": (Kind(body="not-json"), "body"),
    "s3 notification": (Kind(body="s3-notification"), "no fast plan"),
    "undecodable json": (Kind(body="truncated"), "decode"),
    "json not fitting the model": (Kind(body="misfit"), "decode"),
}


@pytest.mark.parametrize("name", list(HANDED_BACK))
@pytest.mark.parametrize("attributes", ["uniform", "per-message"])
def test_records_the_fast_path_cannot_prove_are_handed_back_with_their_reason(
    name: str, attributes: str
) -> None:
    """One unstamped / malformed / envelope / SNS-in-SQS / undecodable record among plain
    v2 records (equal attributes, or a per-message trace id): that record alone is handed
    back, counted under its reason, and gets the reference path's result; the others are
    finished by the fast path."""
    kind, reason = HANDED_BACK[name]
    user = "tenant" if attributes == "uniform" else "trace"
    records = [sqs_record(Kind(user=user), i) for i in range(5)]
    records[2] = sqs_record(Kind(kind.payload, kind.stamp, kind.body, user), 2)
    consumer = build().consumer
    report, fast, handed_back = run(consumer, {"Records": copy.deepcopy(records)})
    assert (fast, handed_back) == (4, Counter({reason: 1}))
    reference = build().consumer
    alone = reference._process({"Records": [records[2]]}, fast=False).records[0]
    assert view(report.records[2]) == view(alone)
    assert outcomes(report)[:2] + outcomes(report)[3:] == ["handled"] * 4


def test_a_record_of_the_wrong_shape_is_handed_back() -> None:
    """A record without a body: handed back as "record shape", rejected as in the
    reference path; its neighbours are finished fast."""
    event = uniform(3)
    del event["Records"][1]["body"]
    consumer = build().consumer
    report, fast, handed_back = run(consumer, event)
    assert (fast, handed_back) == (2, Counter({"record shape": 1}))
    assert outcomes(report) == ["handled", "rejected", "handled"]


def test_a_broken_fast_path_is_noticed_by_the_ran_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The "ran" checks have teeth: with ``SqsFastPath._entry`` broken, no record is lost
    (every record gets the reference path's result) but the fast path finishes none and
    counts each hand-back as "unexpected", so :func:`assert_ran_fast` fails."""

    def broken(self: SqsFastPath, attrs: Any) -> Any:
        raise RuntimeError("the fast path is broken on purpose")

    monkeypatch.setattr(SqsFastPath, "_entry", broken)
    for event in (uniform(), traced(uniform())):
        consumer = build().consumer
        report, fast, handed_back = run(consumer, copy.deepcopy(event))
        expected = build().consumer._process(copy.deepcopy(event), fast=False)
        assert_same_results(report.records, expected.records)
        assert outcomes(report) == ["handled"] * 5
        assert (fast, handed_back) == (0, Counter({"unexpected": 5}))
        with pytest.raises(AssertionError):
            assert_ran_fast(build().consumer, copy.deepcopy(event))


# ---- 4. regression tests: the differences these tests found, each fixed


def test_a_stamp_attribute_mixing_shapes_lends_nothing_to_the_next_record() -> None:
    """Regression (fixed in 731abae while these tests were written): a record whose
    vmsg-version carries Lambda's ``stringValue`` "2" and boto3's ``StringValue`` "1"
    gets what the reference path gives it, and the plain v2 record after it is handled as
    v2 (qty 7), not given the first record's table entry."""
    event = sqs_event(v2("m0", 5), v2("m1", 7))
    version = event["Records"][0]["messageAttributes"]["vmsg-version"]
    version.update({"StringValue": "1", "DataType": "Number"})
    harness = build()
    report = harness.consumer.process(copy.deepcopy(event), None)
    assert_same_results(
        report.records, build().consumer._process(copy.deepcopy(event), fast=False).records
    )
    assert [msg.qty for _, msg, _ in harness.log.calls] == [5, 7]


def test_a_producer_attribute_of_null_values_is_read_on_its_own() -> None:
    """Regression: a v2 record whose vmsg-producer is ``{"stringValue": None, "dataType":
    None}``, after a plain v2 record, is rejected (StampError) as the reference path does;
    the fast path's table once keyed that attribute like an absent one."""
    event = sqs_event(v2("m0"), v2("m1"))
    event["Records"][1]["messageAttributes"]["vmsg-producer"] = {
        "stringValue": None,
        "dataType": None,
    }
    report = assert_same_as_reference(Config(), frozenset(), event)
    assert outcomes(report) == ["handled", "rejected"]


def strict_registry() -> vm.Registry:
    """order.created v1 and v2, the upgrader reading ``d["id"]`` (a KeyError without it)."""
    registry = vm.Registry()
    registry.message("order.created", version=1)(OrderV1)
    registry.message("order.created", version=2)(OrderV2)

    @registry.upgrader("order.created", from_version=1)
    def _(d: dict[str, Any]) -> dict[str, Any]:
        return {"id": d["id"], "qty": 1}

    registry.check()
    return registry


def test_an_upgrader_failing_is_not_counted_as_a_fast_path_bug() -> None:
    """Regression: a v1 payload without ``id``, whose upgrader raises KeyError, is rejected
    as in the reference path, and its hand-back is counted "decode" (the upgrading decoder
    wraps an upgrader's exception), not "unexpected", the reason kept for fast-path bugs."""
    consumer = vm.Consumer(strict_registry())
    consumer.handler(OrderV2)(lambda msg, meta: None)
    event = sqs_event(v1("m0"), v1("m1"))
    event["Records"][1]["body"] = '{"name":"no id"}'
    report, fast, handed_back = run(consumer, copy.deepcopy(event))
    reference = vm.Consumer(strict_registry())
    reference.handler(OrderV2)(lambda msg, meta: None)
    assert_same_results(report.records, reference._process(event, fast=False).records)
    assert outcomes(report) == ["upgraded", "rejected"]
    assert (fast, handed_back) == (1, Counter({"decode": 1}))


def test_an_events_queue_kind_is_read_from_its_first_record_by_both_paths() -> None:
    """Regression: Lambda never mixes queues in one event, so both paths read whether an
    SQS event comes from a FIFO queue from its first record, as they read its source (the
    reference path once decided record by record). A hand-built event whose first record is
    a standard queue's is a standard event: a failure does not stop the later records; one
    whose first record is a FIFO queue's keeps every group's order."""
    event = sqs_event(v2("m0"), v2("m1"), v2("m2"))
    for i, rec in enumerate(event["Records"][1:], start=1):
        fifo(rec, "g", i)
    report = assert_same_as_reference(Config(), frozenset({1}), event)
    assert outcomes(report) == ["handled", "failed", "handled"]
    event = sqs_event(v2("m0"), v2("m1"), v2("m2"))
    for i, rec in enumerate(event["Records"][:2]):
        fifo(rec, "g", i)
    report = assert_same_as_reference(Config(), frozenset({0}), event)
    assert outcomes(report) == ["failed", "retried", "handled"]


# ---- 5. per-message attributes: a batch taken as a whole, and each way a record can differ

#: Edits to one record of a batch whose records each carry their own trace id (and a
#: constant tenant): what the record carries then differs from its neighbours'.
EDITS = (
    "trace-number",  # the trace id a Number ("7": the int 7)
    "trace-binary",
    "trace-missing",
    "trace-renamed",  # as many names, not the same ones
    "stamp-for-trace",  # vmsg-content-type added, the trace id removed: as many names
    "extra-user",
    "tenant-other",  # the constant attribute another value
    "tenant-number",  # the constant attribute a Number (of the text "acme")
    "trace-not-a-dict",
    "trace-none",
    "trace-pairs",  # a list of [key, value] pairs: not a mapping
    "trace-no-data-type",
    "trace-custom-type",  # String.custom: a String to plain_attributes, not to a count
    "trace-value-none",
    "trace-value-int",
    "trace-value-subclass",  # a str subclass
    "trace-boto3-shape",
    "trace-mixed-shape",  # Lambda's keys and boto3's, of other values
    "size-attribute",  # the trace id replaced by a Number SQSLargePayloadSize (dropped)
    "attributes-none",
    "no-group",
    "group-number",
    "system-text",  # the record's attributes a str
    "system-list",
    *(f"stamp:{s}" for s in STAMPS if s != "as-is"),
)


class Text(str):
    """A str subclass: plain_attributes reads it the long way round."""


def edit(rec: dict[str, Any], what: str, i: int) -> None:
    """Apply one of EDITS to record ``i``."""
    attrs = rec["messageAttributes"]
    if attrs is None:  # (an earlier edit removed them)
        attrs = rec["messageAttributes"] = {}
    trace = attrs.get("trace")
    if what == "trace-number":
        set_attribute(attrs, "trace", "Number", str(i))
    elif what == "trace-binary":
        attrs["trace"] = lambda_attribute({"DataType": "Binary", "BinaryValue": bytes([i])})
    elif what == "trace-missing":
        attrs.pop("trace", None)
    elif what == "trace-renamed" and trace is not None:
        attrs["span"] = attrs.pop("trace")
    elif what == "stamp-for-trace":
        attrs.pop("trace", None)
        set_attribute(attrs, "vmsg-content-type", "String", "application/json")
    elif what == "extra-user":
        set_attribute(attrs, "extra", "String", "x")
    elif what == "tenant-other" and "tenant" in attrs:
        attrs["tenant"]["stringValue"] = "other"
    elif what == "tenant-number" and "tenant" in attrs:
        attrs["tenant"]["dataType"] = "Number"
    elif what == "trace-not-a-dict":
        attrs["trace"] = "t"
    elif what == "trace-none":
        attrs["trace"] = None
    elif what == "trace-pairs":
        attrs["trace"] = [["dataType", "String"], ["stringValue", f"t{i}"]]
    elif what == "size-attribute":
        attrs.pop("trace", None)
        set_attribute(attrs, "SQSLargePayloadSize", "Number", "10")
    elif what == "attributes-none":
        rec["messageAttributes"] = None
    elif what == "no-group" and type(rec["attributes"]) is dict:
        rec["attributes"].pop("MessageGroupId", None)
    elif what == "group-number" and type(rec["attributes"]) is dict:
        rec["attributes"]["MessageGroupId"] = 7
    elif what == "system-text":
        rec["attributes"] = "MessageGroupId"
    elif what == "system-list":
        rec["attributes"] = ["MessageGroupId"]
    elif what.startswith("stamp:") and "vmsg-type" in attrs and "vmsg-version" in attrs:
        change_stamp(attrs, what[len("stamp:") :])
    elif type(trace) is dict:
        if what == "trace-no-data-type":
            trace.pop("dataType", None)
        elif what == "trace-custom-type":
            trace["dataType"] = "String.custom"
        elif what == "trace-value-none":
            trace["stringValue"] = None
        elif what == "trace-value-int":
            trace["stringValue"] = 5
        elif what == "trace-value-subclass":
            trace["stringValue"] = Text(trace["stringValue"])
        elif what == "trace-boto3-shape":
            attrs["trace"] = {"DataType": "String", "StringValue": "boto3"}
        elif what == "trace-mixed-shape":
            trace.update({"DataType": "Number", "StringValue": "1"})


#: Each record's attributes besides its own trace id: a per-message Number, a per-message
#: Binary, a constant Binary.
EXTRAS = ("none", "seq", "blob-each", "blob")


def traced_batch(n: int, payload: str, extra: str, groups: int) -> list[dict[str, Any]]:
    """``n`` records of ``payload`` with a constant tenant and a trace id of their own (and
    ``extra``); ``groups``: a FIFO queue's batch over that many message groups (0: a
    standard queue's)."""
    records = [sqs_record(Kind(payload, user="trace"), i) for i in range(n)]
    for i, rec in enumerate(records):
        attrs = rec["messageAttributes"]
        if extra == "seq":
            set_attribute(attrs, "seq", "Number", str(i))
        elif extra in ("blob", "blob-each"):
            value = bytes([i]) if extra == "blob-each" else b"\x00\x01"
            attrs["blob"] = lambda_attribute({"DataType": "Binary", "BinaryValue": value})
        if groups:
            fifo(rec, f"g{i % groups}", i)
    return records


@settings(max_examples=300, deadline=None)
@given(
    config=configs,
    n=st.integers(2, 12),
    payload=st.sampled_from(("v1", "v2", "v2")),
    extra=st.sampled_from(EXTRAS),
    groups=st.sampled_from((0, 1, 3, 3)),
    edits=st.lists(st.tuples(st.integers(0, 11), st.sampled_from(EDITS)), max_size=3),
    fail=st.frozensets(st.integers(0, 11), max_size=3),
)
def test_a_batch_with_per_message_attributes_gets_what_the_reference_path_gives_it(
    config: Config,
    n: int,
    payload: str,
    extra: str,
    groups: int,
    edits: list[tuple[int, str]],
    fail: frozenset[int],
) -> None:
    """Records each carrying their own trace id (beside a constant tenant, and a Number or
    Binary of their own or not), of a FIFO queue (one or several groups) or not, with up to
    three records edited (another data type, a name missing, renamed or added, an odd
    shape, another stamp, no or another group id) and handlers failing: ``process`` gives
    the reference path's results, groups stopping at their first failure. Unedited, every
    record is finished by the fast path."""
    records = traced_batch(n, payload, extra, groups)
    for index, what in edits:
        edit(records[index % n], what, index % n)
    report = assert_same_as_reference(config, fail, {"Records": records})
    if not edits and config == Config():
        fast = build(Config(), fail)
        _, finished, handed_back = run(fast.consumer, {"Records": copy.deepcopy(records)})
        assert (finished, handed_back) == (n, Counter()) or (groups and fail), handed_back
        assert len(report.records) == n


@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("groups", [0, 1, 10])
def test_a_batch_with_per_message_attributes_is_taken_as_a_whole(extra: str, groups: int) -> None:
    """Records each carrying their own trace id (and a Number or Binary of their own, or a
    constant Binary), of a FIFO queue or not: the batch is checked as a whole (not record
    by record), every record finished by the fast path with the reference path's result,
    each record's own attributes in its Meta."""
    records = traced_batch(12, "v2", extra, groups)
    consumer = build().consumer
    whole = consumer._sqs_fast._uniform_batch
    taken: list[bool] = []

    def spy(raw: list[Any], deadline: float) -> Any:
        got = whole(raw, deadline)
        taken.append(got is not None)
        return got

    consumer._sqs_fast._uniform_batch = spy  # type: ignore[method-assign]
    report = assert_ran_fast(consumer, {"Records": copy.deepcopy(records)})
    assert taken == [True]
    expected = build().consumer._process({"Records": copy.deepcopy(records)}, fast=False)
    assert_same_results(report.records, expected.records)
    assert [r.meta.attributes["trace"] for r in report.records] == [f"t{i}" for i in range(12)]


def test_a_fifo_group_failing_mid_batch_stops_alone_under_per_message_attributes() -> None:
    """Three groups, records each with their own trace id: a handler failure at record 4
    (group g1) retries g1's later records, unprocessed, and finishes the others."""
    records = traced_batch(9, "v2", "seq", 3)
    report = assert_same_as_reference(Config(), frozenset({4}), {"Records": records})
    assert outcomes(report) == ["handled"] * 4 + ["failed", "handled", "handled", "retried"] + [
        "handled"
    ]
    consumer = build(fail=frozenset({4})).consumer
    _, finished, handed_back = run(consumer, {"Records": copy.deepcopy(records)})
    assert (finished, handed_back) == (8, Counter({"stopped group": 1}))


def test_an_attribute_given_as_pairs_lends_nothing_to_the_next_record() -> None:
    """Regression: a record whose trace id is a list of ``[key, value]`` pairs (not a
    mapping: plain_attributes leaves it out), then a record whose trace id is the mapping of
    those pairs: the second gets its own trace id. The per-record loop's snapshot once
    copied each attribute with ``dict()``, which turned the pairs into that mapping, so the
    second record compared equal to it and borrowed the first's user attributes."""
    records = traced_batch(2, "v2", "none", 0)
    records[0]["messageAttributes"]["trace"] = [["dataType", "String"], ["stringValue", "x"]]
    records[1]["messageAttributes"]["trace"] = {"dataType": "String", "stringValue": "x"}
    report = assert_same_as_reference(Config(), frozenset(), {"Records": records})
    assert [r.meta.attributes for r in report.records] == [
        {"tenant": "acme"},
        {"tenant": "acme", "trace": "x"},
    ]
