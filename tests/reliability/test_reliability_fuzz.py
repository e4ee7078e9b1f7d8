"""Fuzzing ``Consumer.process`` with hypothesis: events of every source, near-valid and
broken in every field (invalid UTF-8 as lone surrogates and binary Kinesis data, huge
numbers, deep nesting, wrong types, wrong shapes, malformed stamps, missing keys).

Whatever comes in: only library errors (``vm.VersionedMsgsError``) escape; every record is in
the report once, in event order; the Lambda response is well-formed and names exactly the
failed records; a handler runs only for records reported as handled (or failed by it).
Also: stamp readers given arbitrary carriers return a Stamp, None or raise ``StampError``.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import msgspec
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from fakes import FakeS3, FakeSQS, client_error
from hypothesis import HealthCheck, given, settings
from reliability_models import (
    SOAK,
    InvoiceV1,
    InvoiceV2,
    InvoiceV3,
    OrderV1,
    OrderV2,
    OrderV3,
    RefundV1,
    future_registry,
    new_registry,
)

import versioned_msgs as vm
from versioned_msgs._aws.consumer import FAILED_OUTCOMES

# Events per consumer (each runs Consumer.process), and inputs per cheap property.
EVENT_EXAMPLES = 5000 if SOAK else 250
CHEAP_EXAMPLES = 20000 if SOAK else 1000
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]
FUZZ = settings(max_examples=EVENT_EXAMPLES, deadline=None, suppress_health_check=_HEALTH)
FUZZ_CHEAP = settings(max_examples=CHEAP_EXAMPLES, deadline=None, suppress_health_check=_HEALTH)
OUTCOMES = {
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
HANDLER_OUTCOMES = {"handled", "upgraded", "routed", "tolerated"}
POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
FUTURE = future_registry()
NEW = new_registry()

# ---- values ------------------------------------------------------------------------------

surrogates = st.characters(categories=["Cs"])
texts = st.text(max_size=12) | st.text(st.characters() | surrogates, max_size=6)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**200)
    | st.floats()
    | texts
)
json_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(texts, c, max_size=4),
    max_leaves=10,
)


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    n = draw(st.integers(1, 3000))
    opener, closer, inner = draw(st.sampled_from([("[", "]", ""), ('{"id":', "}", "1")]))
    return opener * n + inner + closer * n


def _models() -> st.SearchStrategy[Any]:
    ids = st.text(max_size=8)
    qty = st.integers(-(2**70), 2**70)
    return st.one_of(
        st.builds(OrderV1, id=ids, qty=qty),
        st.builds(OrderV2, id=ids, qty=qty, note=st.text(max_size=5)),
        st.builds(OrderV3, id=ids, qty=qty, gift=st.booleans()),
        st.builds(InvoiceV1, id=ids, cents=qty),
        st.builds(InvoiceV2, id=ids, amount=st.sampled_from(["1.00", "x", "1e9", ""])),
        st.builds(InvoiceV3, id=ids, amount=st.just("2.50"), currency=st.text(max_size=3)),
        st.builds(RefundV1, id=ids, cents=qty),
    )


encoded = _models().map(FUTURE.encode)

BAD_VERSIONS = ["0", "-1", "01", "1.0", "1e3", "2147483648", "9" * 40, "", " 1", "\uff11"]
version_texts = st.sampled_from(["1", "2", "3", "4", *BAD_VERSIONS])
type_texts = st.sampled_from(
    ["order.created", "invoice.paid", "refund.issued", "Order", "", "a" * 200, "x y"]
)


@st.composite
def bodies(draw: st.DrawFn) -> str:
    """An SQS body / SNS message: valid payloads, envelopes, nested sources, junk."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(encoded).body.decode()
    if kind == 1:
        return draw(encoded).embedded().decode()
    if kind == 2:
        head = draw(json_values)
        return '{"vmsg":' + json.dumps(head) + ',"data":' + json.dumps(draw(json_values)) + "}"
    if kind == 3:
        target = draw(st.fixed_dictionaries({"s3BucketName": texts, "s3Key": texts}))
        return json.dumps([POINTER_CLASS, draw(st.sampled_from([target, draw(json_values)]))])
    if kind == 4:  # SNS envelope inside an SQS body
        return json.dumps(
            {
                "Type": "Notification",
                "TopicArn": "arn:aws:sns:us-east-1:1:t",
                "MessageId": draw(texts),
                "Message": draw(st.sampled_from([draw(encoded).body.decode(), draw(texts)])),
                "MessageAttributes": draw(sns_attributes()),
            }
        )
    if kind == 5:  # S3 notification inside an SQS body
        return json.dumps({"Records": draw(st.lists(s3_record(), min_size=1, max_size=3))})
    if kind == 6:
        return draw(deep_json())
    if kind == 7:
        return (
            '{"id": "x", "qty": ' + draw(st.sampled_from(["1e400", "9" * 500, "-0", "NaN"])) + "}"
        )
    if kind == 8:
        return draw(texts)
    return json.dumps(draw(json_values))


def _attr(value: Any, dtype: Any, shape: str) -> Any:
    if shape == "lambda":
        return {"stringValue": value, "dataType": dtype}
    if shape == "boto3":
        return {"StringValue": value, "DataType": dtype}
    return {"Value": value, "Type": dtype}


@st.composite
def stamp_attributes(draw: st.DrawFn, shape: str = "lambda") -> dict[str, Any]:
    """Message attributes around a stamp: valid, malformed, partial or junk."""
    out: dict[str, Any] = {}
    wrong = draw(st.booleans())
    for name, values, dtype in (
        ("vmsg-type", type_texts, "String"),
        ("vmsg-version", version_texts, "Number"),
        ("vmsg-readable-by", version_texts, "Number"),
        ("vmsg-producer", st.sampled_from(["shop:1", "\x00", "é", "p" * 300]), "String"),
        ("vmsg-content-type", st.sampled_from(["application/json", "text/plain", "?"]), "String"),
    ):
        if name in ("vmsg-type", "vmsg-version"):
            if not draw(st.integers(0, 9)):
                continue  # missing half of the pair
        elif draw(st.integers(0, 3)):
            continue
        value: Any = draw(values)
        dt: Any = dtype
        if wrong and draw(st.integers(0, 4)) == 0:
            value = draw(json_values)
        if wrong and draw(st.integers(0, 4)) == 0:
            dt = draw(st.sampled_from(["String", "Number", "Binary", "Number.int", None, 3]))
        out[name] = _attr(value, dt, shape)
        if wrong and draw(st.integers(0, 6)) == 0:
            out[name] = draw(json_values)
    for i in range(draw(st.integers(0, 3))):
        out[f"user{i}"] = draw(
            st.sampled_from(
                [
                    _attr("acme", "String", shape),
                    _attr("3", "Number", shape),
                    {"binaryValue": "AAE=", "dataType": "Binary"},
                    {"binaryValue": "not base64!", "dataType": "Binary"},
                    draw(json_values),
                ]
            )
        )
    if "ExtendedPayloadSize" not in out and not draw(st.integers(0, 9)):
        out["ExtendedPayloadSize"] = _attr("12", "Number", shape)
    return out


def sns_attributes() -> st.SearchStrategy[dict[str, Any]]:
    return stamp_attributes("sns")


def mutate(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """``base``, or with one of its keys dropped or replaced by junk, or junk entirely."""
    keys = sorted(base)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        choice = draw(st.integers(0, 9))
        if choice == 0:
            return draw(json_values)
        out = dict(base)
        if choice in (1, 2) and keys:
            key = draw(st.sampled_from(keys))
            if choice == 1:
                del out[key]
            else:
                out[key] = draw(json_values)
        return out

    return build()


@st.composite
def sqs_record(draw: st.DrawFn, i: int = 0, fifo: bool = False) -> Any:
    rec = {
        "messageId": f"m-{i}",
        "receiptHandle": "rh",
        "body": draw(bodies()),
        "attributes": {"ApproximateReceiveCount": "1"}
        | ({"MessageGroupId": draw(st.sampled_from(["g1", "g2"]))} if fifo else {}),
        "messageAttributes": draw(stamp_attributes()),
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:1:q" + (".fifo" if fifo else ""),
        "awsRegion": "us-east-1",
    }
    return draw(mutate(rec))


@st.composite
def sns_record(draw: st.DrawFn, i: int = 0) -> Any:
    sns = {
        "Type": "Notification",
        "MessageId": f"sns-{i}",
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": draw(bodies()),
        "MessageAttributes": draw(sns_attributes()),
    }
    return draw(mutate({"EventSource": "aws:sns", "Sns": draw(mutate(sns))}))


@st.composite
def kinesis_record(draw: st.DrawFn, i: int = 0) -> Any:
    raw = draw(
        st.one_of(
            encoded.map(lambda e: e.embedded()),
            bodies().map(lambda b: b.encode("utf-8", "surrogatepass")),
            st.binary(max_size=20),  # invalid UTF-8 among them
        )
    )
    data = draw(st.sampled_from([base64.b64encode(raw).decode(), "%%not-base64%%"]))
    kin = {"data": data, "sequenceNumber": f"seq-{i}", "partitionKey": "pk"}
    shard = draw(st.sampled_from(["shardId-000", "shardId-001"]))
    return draw(
        mutate(
            {"eventSource": "aws:kinesis", "eventID": f"{shard}:{i}", "kinesis": draw(mutate(kin))}
        )
    )


@st.composite
def s3_record(draw: st.DrawFn) -> Any:
    obj = {
        "key": draw(st.sampled_from(["ok", "ok%2Bplus", "big", "missing", "stale", "a+b"])),
        "eTag": draw(st.sampled_from(["e", "", None])),
        "size": 3,
    }
    if draw(st.booleans()):
        obj["versionId"] = "v1"
    rec = {
        "eventSource": "aws:s3",
        "eventName": draw(
            st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete", "s3:TestEvent", None])
        ),
        "s3": {"bucket": {"name": "b"}, "object": draw(mutate(obj))},
    }
    return draw(mutate(rec))


@st.composite
def eventbridge_event(draw: st.DrawFn) -> Any:
    detail = draw(
        st.one_of(
            encoded.map(lambda e: msgspec.json.decode(e.embedded())),
            json_values,
            st.fixed_dictionaries(
                {"bucket": st.just({"name": "b"}), "object": st.just({"key": "ok"})}
            ),
        )
    )
    event = {
        "version": "0",
        "id": "eb-1",
        "detail-type": draw(st.sampled_from(["Object Created", "order.created", "x"])),
        "source": draw(st.sampled_from(["aws.s3", "app"])),
        "detail": detail,
    }
    return draw(mutate(event))


def _records(strategy: Callable[..., st.SearchStrategy[Any]], **kw: Any) -> Any:
    @st.composite
    def build(draw: st.DrawFn) -> list[Any]:
        n = draw(st.integers(0, 6))
        return [draw(strategy(i, **kw)) for i in range(n)]

    return build()


@st.composite
def uniform_sqs_batch(draw: st.DrawFn) -> list[Any]:
    """The common production batch: every record carries the same stamp attributes (the
    consumer's batch-wide fast path), with bodies that fit, fail the model, make the
    handler raise, or are no JSON at all."""
    enc = draw(encoded)
    attrs = {
        k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
        for k, v in enc.stamp.to_message_attributes().items()
    }
    if draw(st.booleans()):
        attrs["tenant"] = {"stringValue": "acme", "dataType": "String"}
    doc = msgspec.json.decode(enc.body)
    variants = [
        enc.body.decode(),
        msgspec.json.encode({**doc, "qty": 13, "cents": 13}).decode(),  # the handler raises
        msgspec.json.encode({**doc, "id": 5}).decode(),  # does not fit the model
        "{}",
        '{"id": ',
        enc.embedded().decode(),
        " " + enc.body.decode(),
    ]
    fifo = draw(st.booleans())
    recs = []
    for i in range(draw(st.integers(1, 12))):
        body = draw(st.sampled_from(variants) | bodies())
        rec = {
            "messageId": f"m-{i}",
            "receiptHandle": "rh",
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}
            | ({"MessageGroupId": draw(st.sampled_from(["g1", "g2"]))} if fifo else {}),
            "messageAttributes": attrs,
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q" + (".fifo" if fifo else ""),
            "awsRegion": "us-east-1",
        }
        recs.append(rec if draw(st.integers(0, 7)) else draw(mutate(rec)))
    return recs


@st.composite
def events(draw: st.DrawFn) -> Any:
    """An event of any source, near-valid or broken."""
    kind = draw(st.integers(0, 8))
    if kind == 8:
        recs = draw(uniform_sqs_batch())
    elif kind == 0:
        recs = draw(_records(sqs_record))
    elif kind == 1:
        recs = draw(_records(sqs_record, fifo=True))
    elif kind == 2:
        recs = draw(_records(sns_record))
    elif kind == 3:
        recs = draw(_records(kinesis_record))
    elif kind == 4:
        recs = draw(st.lists(s3_record(), max_size=4))
    elif kind == 5:
        return draw(eventbridge_event())
    elif kind == 6:
        return draw(json_values)
    else:
        return {"Records": draw(json_values)}
    if recs and draw(st.integers(0, 9)) == 0:
        recs.insert(draw(st.integers(0, len(recs))), draw(json_values))
    return {"Records": recs}


# ---- consumers ---------------------------------------------------------------------------


class Boom(Exception):
    """What the fuzzing handler raises for qty 13."""


class Calls:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, msg: Any, meta: vm.Meta) -> None:
        assert isinstance(meta, vm.Meta)
        self.n += 1
        if getattr(msg, "qty", None) == 13 or getattr(msg, "cents", None) == 13:
            raise Boom("handler refused 13")


CALLS = Calls()
_S3_OBJECTS = {
    "ok": (
        FUTURE.encode(OrderV2(id="s3", qty=2)).body,
        {"vmsg-type": "order.created", "vmsg-version": "2"},
    ),
    "ok+plus": (b'{"id": "s3", "qty": 13}', {"vmsg-type": "order.created", "vmsg-version": "2"}),
    "a b": (b"\xff\xfe not utf-8", {"vmsg-type": "order.created", "vmsg-version": "x"}),
    "big": (b"x" * 5000, {}),
}


def _consumer(**options: Any) -> vm.Consumer:
    missing = options.pop("missing", "404")
    c = vm.Consumer(
        new_registry(), s3=FakeS3(_S3_OBJECTS, missing=missing), max_bytes=4096, **options
    )
    c.handler(OrderV2)(CALLS)
    c.handler(InvoiceV2)(CALLS)
    c.handler(InvoiceV1)(CALLS)
    return c


def _single_type() -> vm.Consumer:
    c = vm.Consumer(
        new_registry(),
        on_unversioned=1,
        unversioned_type="order.created",
        on_newer="ignore",
        on_unknown="ignore",
        s3=FakeS3(_S3_OBJECTS, missing="timeout"),
    )
    c.handler(OrderV1)(CALLS)
    return c


CONSUMERS = {
    "defaults": _consumer(),
    "park": _consumer(
        on_newer="park",
        on_unknown="park",
        on_unversioned="park",
        sqs=FakeSQS(),
        park_queue_url="https://sqs.us-east-1.amazonaws.com/1/park",
        missing="412",
    ),
    "park-broken": _consumer(
        on_newer="park",
        on_unknown="park",
        on_unversioned="park",
        sqs=FakeSQS(fail=client_error("SendMessage", "AccessDenied", 403)),
        park_queue_url="https://sqs.us-east-1.amazonaws.com/1/park.fifo",
        missing="500",
    ),
    "ignore": _single_type(),
}


# ---- the properties ----------------------------------------------------------------------


def _raw_ids(event: Any, report: vm.Report) -> list[str | None] | None:
    """The id each raw record must report under, in order (None when ids are not unique)."""
    recs = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(recs, list):
        return None
    ids: list[str | None] = []
    for rec in recs:
        if not isinstance(rec, dict):
            ids.append(None)
        elif report.source == "sqs":
            mid = rec.get("messageId")
            ids.append(mid if isinstance(mid, str) else None)
        elif report.source == "kinesis":
            k = rec.get("kinesis")
            seq = k.get("sequenceNumber") if isinstance(k, dict) else None
            ids.append(seq if isinstance(seq, str) else None)
        else:
            return None
    return ids


def _payload_text(rec: Any) -> str:
    """A raw record as text, with a Kinesis record's base64 data decoded."""
    text = json.dumps(rec, default=str)
    kin = rec.get("kinesis") if isinstance(rec, dict) else None
    data = kin.get("data") if isinstance(kin, dict) else None
    if isinstance(data, str):
        with contextlib.suppress(ValueError):
            text += base64.b64decode(data).decode("utf-8", "replace")
    return text


def check_records(event: Any, report: vm.Report, calls: int) -> list[str | None] | None:
    """Every record once, in order, with a known outcome; returns the raw records' ids."""
    assert isinstance(report, vm.Report)
    assert report.source in {"sqs", "sns", "s3", "kinesis", "eventbridge"}
    for r in report.records:
        assert isinstance(r, vm.RecordResult)
        assert r.outcome in OUTCOMES, r
        assert r.meta is None or isinstance(r.meta, vm.Meta)
        assert r.error is None or isinstance(r.error, Exception)
        if r.outcome in FAILED_OUTCOMES or r.outcome == "parked":
            assert r.error is not None, r  # every failure says why
        if r.outcome == "failed":  # the handler's error or AWS's, never a bug of ours
            assert isinstance(r.error, (Boom, ClientError, BotoCoreError, vm.VersionedMsgsError)), (
                repr(r.error)
            )
        assert r.message_id is None or isinstance(r.message_id, str)
    # one result per record, in event order
    recs = event.get("Records") if isinstance(event, dict) else None
    if report.source == "eventbridge":
        assert len(report.records) == 1
    else:
        assert isinstance(recs, list)
        assert len(report.records) >= len(recs)
        # only an S3 notification nested in a body stands for several records
        if not any("aws:s3" in _payload_text(r) for r in recs):
            assert len(report.records) == len(recs)
    ids = _raw_ids(event, report)
    if ids is not None and None not in ids and len(set(ids)) == len(ids):
        assert [k for k, _ in itertools.groupby(r.message_id for r in report.records)] == ids
    # the handler ran once for each record it handled or failed
    ran = sum(
        1
        for r in report.records
        if r.outcome in HANDLER_OUTCOMES or (r.outcome == "failed" and isinstance(r.error, Boom))
    )
    assert calls == ran
    return ids


def check_report(event: Any, report: vm.Report, calls: int) -> None:
    ids = check_records(event, report, calls)
    # the response Lambda reads
    # (a failed record without an id is listed with an empty one: the whole batch retried)
    failed = [r.message_id or "" for r in report.records if r.outcome in FAILED_OUTCOMES]
    if report.source in ("sqs", "kinesis"):
        resp = report.response
        assert isinstance(resp, dict)
        assert list(resp) == ["batchItemFailures"]
        items = resp["batchItemFailures"]
        assert all(isinstance(i, dict) and list(i) == ["itemIdentifier"] for i in items)
        named = [i["itemIdentifier"] for i in items]
        assert all(isinstance(n, str) for n in named)
        assert len(set(named)) == len(named)
        assert set(named) == set(failed)
        assert ids is None or set(named) - {""} <= set(ids)
    else:
        assert report.response is None


@pytest.mark.parametrize("name", sorted(CONSUMERS))
@FUZZ
@given(event=events())
def test_process_survives_any_event(name: str, event: Any) -> None:
    """Any event: a Report whose records, outcomes and response are well-formed, or a
    library error (never another exception); failures always carry their error."""
    consumer = CONSUMERS[name]
    CALLS.n = 0
    report, exc = attempt(lambda: consumer.process(event, None))
    if isinstance(exc, vm.RecordsFailedError):  # a failed record without an id fails the batch
        assert exc.report.source in ("sqs", "kinesis")
        assert any(r.message_id is None and not r.ok for r in exc.report.records)
        check_records(event, exc.report, CALLS.n)
    elif exc is not None:
        assert isinstance(exc, vm.EventShapeError), exc
    else:
        check_report(event, report, CALLS.n)


def attempt(fn: Callable[[], Any]) -> tuple[Any, vm.VersionedMsgsError | None]:
    """Call ``fn``; a library error is returned, any other exception fails the test."""
    try:
        return fn(), None
    except vm.VersionedMsgsError as exc:
        return None, exc


@FUZZ
@given(event=events())
def test_handle_event_returns_or_raises_library_errors(event: Any) -> None:
    """handle_event: SQS/Kinesis answer with batchItemFailures; async sources return None or
    raise RecordsFailedError naming every failure; nothing else escapes."""
    out, exc = attempt(lambda: CONSUMERS["defaults"].handle_event(event, None))
    if isinstance(exc, vm.RecordsFailedError):
        assert exc.report.failures
    elif exc is not None:
        assert isinstance(exc, vm.EventShapeError), exc
    else:
        assert out is None or (isinstance(out, dict) and "batchItemFailures" in out)


attr_maps = st.one_of(
    stamp_attributes("lambda"),
    stamp_attributes("boto3"),
    stamp_attributes("sns"),
    st.dictionaries(st.sampled_from(["vmsg-type", "vmsg-version", "x"]), json_values),
    json_values,
)


@FUZZ_CHEAP
@given(attrs=attr_maps)
def test_stamp_from_message_attributes_is_strict(attrs: Any) -> None:
    """Untrusted attributes give a valid Stamp, None, or StampError; nothing else."""
    try:
        stamp = vm.Stamp.from_message_attributes(attrs)
    except vm.StampError:
        return
    assert stamp is None or isinstance(stamp, vm.Stamp)
    if stamp is not None:  # a stamp that parsed is one we would write ourselves
        again = vm.Stamp.from_message_attributes(stamp.to_message_attributes())
        # readable_by equal to the version says nothing, and is not written
        same = None if stamp.readable_by == stamp.version else stamp.readable_by
        assert again == msgspec.structs.replace(stamp, readable_by=same)


metadata_maps = st.one_of(
    st.dictionaries(
        st.sampled_from(
            ["vmsg-type", "vmsg-version", "vmsg-readable-by", "vmsg-producer", "VMSG-TYPE", "x"]
        ),
        st.one_of(type_texts, version_texts, texts),
    ),
    st.dictionaries(texts, texts),
)


@FUZZ_CHEAP
@given(meta=metadata_maps, content_type=st.one_of(st.none(), texts))
def test_stamp_from_s3_metadata_is_strict(meta: dict[str, str], content_type: str | None) -> None:
    """Untrusted S3 metadata gives a valid Stamp, None, or StampError; nothing else."""
    try:
        stamp = vm.Stamp.from_s3_metadata(meta, content_type=content_type)
    except vm.StampError:
        return
    assert stamp is None or isinstance(stamp, vm.Stamp)


@FUZZ_CHEAP
@given(
    body=st.one_of(
        st.binary(max_size=40),
        bodies().map(lambda b: b.encode("utf-8", "surrogatepass")),
        encoded.map(lambda e: e.embedded()),
    ),
    stamp=st.one_of(
        st.none(),
        st.builds(
            vm.Stamp,
            type=st.sampled_from(["order.created", "invoice.paid", "refund.issued"]),
            version=st.integers(1, 5),
        ),
    ),
)
def test_registry_decode_raises_only_library_errors(body: bytes, stamp: vm.Stamp | None) -> None:
    """Registry.decode of arbitrary bytes under any stamp: a model, or a library error."""
    try:
        msg, meta = NEW.decode(body, stamp)
    except vm.VersionedMsgsError:
        return
    assert isinstance(meta, vm.Meta)
    assert type(msg) in {OrderV1, OrderV2, InvoiceV1, InvoiceV2}


def test_deeply_nested_body_does_not_fail_its_batch() -> None:
    """Regression (found by this fuzzing): a body nested deeper than msgspec follows raised
    RecursionError out of Consumer.process, failing the whole batch (every good message in it
    went back to the queue and, in the end, to the DLQ). Now only that record is rejected
    (a v1 payload on its way through the upgrader, an envelope, a nested-source probe)."""
    good = FUTURE.encode(OrderV2(id="good", qty=2))
    deep = "[" * 5000 + "]" * 5000
    deep_obj = '{"id":' * 5000 + "1" + "}" * 5000
    envelope = '{"vmsg":' + "[" * 5000 + "]" * 5000 + ',"data":{}}'
    attrs, attrs_v1 = (
        {
            k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
            for k, v in stamp.to_message_attributes().items()
        }
        for stamp in (good.stamp, vm.Stamp(type="order.created", version=1))
    )
    records = [
        {"messageId": "good", "body": good.body.decode(), "messageAttributes": attrs},
        {"messageId": "deep", "body": deep, "messageAttributes": {}},
        {"messageId": "deep-stamped", "body": deep_obj, "messageAttributes": attrs_v1},
        {"messageId": "deep-envelope", "body": envelope, "messageAttributes": {}},
        {
            "messageId": "deep-array-attr",
            "body": good.body.decode(),
            "messageAttributes": {
                **attrs,
                "tags": {"stringValue": deep, "dataType": "String.Array"},
            },
        },
    ]
    for rec in records:
        rec.update(eventSource="aws:sqs", eventSourceARN="arn:aws:sqs:us-east-1:1:q", attributes={})
    CALLS.n = 0
    report = CONSUMERS["defaults"].process({"Records": records}, None)
    outcomes = {r.message_id: r.outcome for r in report.records}
    assert outcomes == {
        "good": "handled",
        "deep": "rejected",
        "deep-stamped": "rejected",
        "deep-envelope": "rejected",
        "deep-array-attr": "handled",
    }
    errors = {r.message_id: str(r.error) for r in report.records if r.error is not None}
    assert "nested too deeply" in errors["deep-stamped"]
    assert "embedded envelope" in errors["deep-envelope"]
    assert CALLS.n == 2


def test_attributes_of_the_wrong_type_are_rejected_not_failed() -> None:
    """Regression (found by this fuzzing): messageAttributes that are a list or a string made
    Stamp.from_message_attributes raise AttributeError, so the record counted as a failure of
    ours ("failed", logged as unexpected); it now raises StampError and the record is rejected
    with a message naming what was found."""
    body = FUTURE.encode(OrderV2(id="x", qty=2)).body.decode()
    records = [
        {
            "messageId": f"m{i}",
            "body": body,
            "messageAttributes": attrs,
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
            "attributes": {},
        }
        for i, attrs in enumerate([["vmsg-type", "vmsg-version"], "vmsg-type"])
    ]
    report = CONSUMERS["defaults"].process({"Records": records}, None)
    assert [r.outcome for r in report.records] == ["rejected", "rejected"]
    assert all(isinstance(r.error, vm.StampError) for r in report.records)
    assert "expected an object of attribute names to values, got list" in str(
        report.records[0].error
    )
