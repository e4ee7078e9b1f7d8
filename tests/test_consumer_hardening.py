"""The consumer against hostile input and unusual records: S3 reads only where allowed, a cap
on the S3 objects one message may name, both extended-client pointer formats, ordered sources
that never handle a record twice, every record parkable, invalid text rejected cleanly."""

from __future__ import annotations

import base64
import enum
import json
from typing import Any

import msgspec
import pydantic
import pytest
from consumer_models import PRODUCER, OrderV2, OrderV3, OrderV4, Seen, consumer_registry

import versioned_msgs as vm
from versioned_msgs.testing import (
    Emulator,
    kinesis_event,
    lambda_sqs_event,
    s3_event,
    sns_sqs_event,
    sqs_event,
)

PAYLOAD_POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_POINTER = "com.amazon.sqs.javamessaging.MessageS3Pointer"


class CountingS3:
    """A real boto3 S3 client on the moto server that counts the requests made through it."""

    def __init__(self, aws: Emulator) -> None:
        self.client = aws.client("s3")
        self.calls: list[str] = []
        self.client.meta.events.register(
            "before-call.s3.*", lambda model, **_: self.calls.append(model.name)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def make(**options: Any) -> tuple[vm.Consumer, Seen]:
    consumer = vm.Consumer(consumer_registry(), **options)
    seen = Seen()
    consumer.handler(OrderV2)(seen)
    return consumer, seen


def pointer_record(bucket: str, key: str, *, legacy: bool = False) -> dict[str, Any]:
    """An SQS record whose body is an extended-client pointer (stamped v2, as our publisher
    and the official clients write it)."""
    enc = PRODUCER.encode(OrderV2(id="big", qty=7))
    rec: dict[str, Any] = sqs_event(enc)["Records"][0]
    cls = LEGACY_POINTER if legacy else PAYLOAD_POINTER
    rec["body"] = json.dumps([cls, {"s3BucketName": bucket, "s3Key": key}])
    size_name = "SQSLargePayloadSize" if legacy else "ExtendedPayloadSize"
    rec["messageAttributes"][size_name] = {
        "stringValue": "600000",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Number",
    }
    return rec


def put_order(s3: Any, bucket: str, key: str) -> None:
    s3.create_bucket(Bucket=bucket)
    enc = PRODUCER.encode(OrderV2(id="big", qty=7))
    s3.put_object(Bucket=bucket, Key=key, Body=enc.body, Metadata=enc.stamp.to_s3_metadata())


# ---- S3 reads only where allowed ---------------------------------------------------------


def test_a_pointer_is_not_followed_without_allowed_buckets(aws: Emulator) -> None:
    """With no allowed_buckets, a pointer is rejected with BucketNotAllowedError naming the
    bucket and the option, and no S3 request is made."""
    s3 = CountingS3(aws)
    put_order(s3.client, "tenant-b", "k")
    s3.calls.clear()
    consumer, seen = make(s3=s3)
    report = consumer.process({"Records": [pointer_record("tenant-b", "k")]}, None)
    [result] = report.records
    assert result.outcome == "rejected"
    assert isinstance(result.error, vm.BucketNotAllowedError)
    assert result.error.bucket == "tenant-b"
    assert "'tenant-b'" in str(result.error)
    assert "allowed_buckets" in str(result.error)
    assert (s3.calls, seen.calls) == ([], [])


@pytest.mark.parametrize("legacy", [False, True], ids=["payload-offloading", "legacy"])
def test_a_pointer_is_followed_only_into_an_allowed_bucket(aws: Emulator, legacy: bool) -> None:
    """A pointer into a listed bucket is read and handled (the current and the legacy pointer
    class, with either size attribute); one into another tenant's bucket is rejected without
    a request, in the same batch."""
    s3 = CountingS3(aws)
    put_order(s3.client, "mine", "k")
    put_order(s3.client, "theirs", "k")
    s3.calls.clear()
    consumer, seen = make(s3=s3, allowed_buckets=["mine"])
    event = {
        "Records": [
            pointer_record("mine", "k", legacy=legacy),
            pointer_record("theirs", "k", legacy=legacy),
        ]
    }
    report = consumer.process(event, None)
    assert [r.outcome for r in report.records] == ["handled", "rejected"]
    assert isinstance(report.records[1].error, vm.BucketNotAllowedError)
    assert seen.calls[0][0] == OrderV2(id="big", qty=7)
    assert s3.calls == ["GetObject"] or s3.calls == ["HeadObject", "GetObject"]


def test_arns_and_access_points_are_read_only_when_listed_exactly(aws: Emulator) -> None:
    """A pointer naming an access point ARN or alias is refused unless that exact string is
    listed; listing the plain bucket name does not admit them."""
    arn = "arn:aws:s3-object-lambda:us-east-1:999999999999:accesspoint/other"
    consumer, _ = make(s3=CountingS3(aws), allowed_buckets=["mine"])
    for bucket in (arn, "other-ap-abcdefghijklmnop-s3alias", "mine/../theirs"):
        [result] = consumer.process({"Records": [pointer_record(bucket, "k")]}, None).records
        assert isinstance(result.error, vm.BucketNotAllowedError), bucket
    listed, _ = make(s3=object(), allowed_buckets=[arn])
    [result] = listed.process({"Records": [pointer_record(arn, "k")]}, None).records
    assert not isinstance(result.error, vm.BucketNotAllowedError)  # tried (this client fails)


def _nested_notifications(bucket: str) -> dict[str, dict[str, Any]]:
    """One S3 notification for ``bucket``, as each source delivers it."""
    direct = s3_event(bucket, "k", etag="e1")
    inner = direct["Records"][0]
    in_sqs = sqs_event(PRODUCER.encode(OrderV2(id="x", qty=1)))
    in_sqs["Records"][0]["messageAttributes"] = {}
    in_sqs["Records"][0]["body"] = json.dumps({"Records": [inner]})
    via_sns = sns_sqs_event(PRODUCER.encode(OrderV2(id="x", qty=1)))
    envelope = json.loads(via_sns["Records"][0]["body"])
    envelope["Message"] = json.dumps({"Records": [inner]})
    envelope["MessageAttributes"] = {}
    via_sns["Records"][0]["body"] = json.dumps(envelope, indent=2)
    via_sns["Records"][0]["messageAttributes"] = {}
    bridge = {
        "version": "0",
        "id": "ev-1",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-03T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"bucket": {"name": bucket}, "object": {"key": "k", "etag": "e1"}},
    }
    return {"s3": direct, "sqs": in_sqs, "sns-sqs": via_sns, "eventbridge": bridge}


@pytest.mark.parametrize("source", ["s3", "sqs", "sns-sqs", "eventbridge"])
def test_notifications_for_another_bucket_are_refused_when_buckets_are_listed(
    aws: Emulator, source: str
) -> None:
    """With allowed_buckets given, an S3 notification naming another bucket (direct, inside
    an SQS body, inside an SNS envelope in SQS, or from EventBridge) is rejected with no S3
    request; one naming a listed bucket is read."""
    s3 = CountingS3(aws)
    put_order(s3.client, "mine", "k")
    s3.calls.clear()
    consumer, _ = make(s3=s3, allowed_buckets=["mine"])
    [refused] = consumer.process(_nested_notifications("forged")[source], None).records
    assert refused.outcome == "rejected"
    assert isinstance(refused.error, vm.BucketNotAllowedError)
    assert s3.calls == []
    [read] = consumer.process(_nested_notifications("mine")[source], None).records
    assert s3.calls  # the listed bucket was read (the made-up eTag makes it superseded)
    assert not isinstance(read.error, vm.BucketNotAllowedError)


def test_without_allowed_buckets_a_notification_for_an_arn_is_refused() -> None:
    """With no allowed_buckets, notifications are read as before, except that a bucket that
    is an ARN or an access point alias is refused (no request: this client cannot make one)."""
    consumer, _ = make(s3=object())
    [result] = consumer.process(s3_event("arn:aws:s3:::other", "k"), None).records
    assert isinstance(result.error, vm.BucketNotAllowedError)
    [result] = consumer.process(s3_event("plain-bucket", "k"), None).records
    assert result.outcome == "failed"  # tried: the object() client has no get_object


def test_one_message_may_name_at_most_max_s3_records_objects(aws: Emulator) -> None:
    """A forged SQS body listing more S3 records than ``max_s3_records`` is one rejected
    record (LimitExceededError naming the option) and costs no S3 request; at the cap every
    object is read."""
    s3 = CountingS3(aws)
    consumer, _ = make(s3=s3, max_s3_records=3)
    inner = s3_event("bkt", "k")["Records"][0]
    event = sqs_event(PRODUCER.encode(OrderV2(id="x", qty=1)))
    rec = event["Records"][0]
    rec["messageAttributes"] = {}
    rec["body"] = json.dumps({"Records": [inner] * 4})
    report = consumer.process(event, None)
    [result] = report.records
    assert (result.outcome, result.message_id) == ("rejected", rec["messageId"])
    assert isinstance(result.error, vm.LimitExceededError)
    assert result.error.limit == "max_s3_records"
    assert "max_s3_records" in str(result.error)
    assert report.response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    assert s3.calls == []
    rec["body"] = json.dumps({"Records": [inner] * 3})
    assert len(consumer.process(event, None).records) == 3
    assert s3.calls.count("GetObject") + s3.calls.count("HeadObject") >= 3


def test_allowed_buckets_and_max_s3_records_are_checked_at_construction() -> None:
    """A string instead of a list of buckets, an empty name or a cap below one is refused."""
    with pytest.raises(TypeError, match="allowed_buckets"):
        vm.Consumer(consumer_registry(), allowed_buckets="mine")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="allowed_buckets"):
        vm.Consumer(consumer_registry(), allowed_buckets=[""])
    with pytest.raises(ValueError, match="max_s3_records"):
        vm.Consumer(consumer_registry(), max_s3_records=0)


def test_consume_takes_the_same_s3_options() -> None:
    """``@vm.consume`` passes allowed_buckets and max_s3_records to its consumer."""

    @vm.consume(consumer_registry(), OrderV2, allowed_buckets=["mine"], max_s3_records=2)
    def handler(order: OrderV2, meta: vm.Meta) -> None:
        pass

    assert handler.consumer.allowed_buckets == frozenset({"mine"})
    assert handler.consumer.max_s3_records == 2


# ---- ordered sources never handle a record twice ----------------------------------------


def test_an_unreadable_kinesis_record_stops_its_shard() -> None:
    """A Kinesis record whose data is not a string is rejected and every later record of
    the shard is retried unprocessed: Lambda replays from the first failure, so handling
    them now would handle them twice."""
    consumer, seen = make()
    event = kinesis_event(*(PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(4)))
    event["Records"][1]["kinesis"]["data"] = 12345
    report = consumer.process(event, None)
    assert [r.outcome for r in report.records] == ["handled", "rejected", "retried", "retried"]
    assert seen.ids == ["o0"]
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    assert report.response == {"batchItemFailures": [{"itemIdentifier": s} for s in seqs[1:]]}


def test_an_unreadable_kinesis_record_without_a_shard_stops_every_later_record() -> None:
    """When even the record's eventID (its shard) cannot be read, every later record is
    retried."""
    consumer, _ = make()
    event = kinesis_event(*(PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(3)))
    event["Records"][1]["kinesis"]["data"] = None
    event["Records"][1]["eventID"] = None
    assert [r.outcome for r in consumer.process(event, None).records] == [
        "handled",
        "rejected",
        "retried",
    ]


def _fifo(event: dict[str, Any], groups: list[str]) -> dict[str, Any]:
    for i, (rec, group) in enumerate(zip(event["Records"], groups, strict=True)):
        rec["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
        rec["attributes"]["MessageGroupId"] = group
        rec["attributes"]["SequenceNumber"] = str(1000 + i)
    return event


@pytest.mark.parametrize("fast", [True, False], ids=["process", "reference"])
def test_an_unreadable_fifo_record_stops_its_group(fast: bool) -> None:
    """A FIFO record without a body is rejected; the later records of its group are retried,
    other groups go on. Without a readable group, every later record is retried."""
    consumer, _ = make()
    encs = [PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(4)]
    event = _fifo(sqs_event(*encs), ["g", "g", "h", "g"])
    del event["Records"][1]["body"]
    report = consumer._process(event, fast=fast)
    assert [r.outcome for r in report.records] == ["handled", "rejected", "handled", "retried"]
    event = _fifo(sqs_event(*encs), ["g", "g", "h", "g"])
    del event["Records"][1]["body"]
    del event["Records"][1]["attributes"]["MessageGroupId"]
    event["Records"][1]["attributes"]["SequenceNumber"] = "1001"
    report = consumer._process(event, fast=fast)
    assert [r.outcome for r in report.records] == ["handled", "rejected", "retried", "retried"]


# ---- every record can be parked --------------------------------------------------------


def _park_queue(aws: Emulator) -> tuple[Any, str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="parked")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return sqs, url, arn


def test_binary_kinesis_data_is_parked_wrapped_and_the_shard_goes_on(aws: Emulator) -> None:
    """Kinesis data that is not text cannot be an SQS body: it is parked in the wrapped form
    (base64 body, ``vmsg-parked-encoding: base64``), the record counts as parked and the
    records after it are handled, not retried."""
    sqs, url, _ = _park_queue(aws)
    consumer, _ = make(sqs=sqs, park_queue_url=url, on_unversioned="park")
    event = kinesis_event(*(PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(3)))
    binary = b"\x89PNG\r\n\x1a\n\x00\xff"
    event["Records"][1]["kinesis"]["data"] = base64.b64encode(binary).decode()
    report = consumer.process(event, None)
    assert [r.outcome for r in report.records] == ["handled", "parked", "handled"]
    assert report.response == {"batchItemFailures": []}
    [parked] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert base64.b64decode(parked["Body"]) == binary
    attrs = parked["MessageAttributes"]
    assert attrs["vmsg-parked-encoding"]["StringValue"] == "base64"
    assert attrs["vmsg-parked-reason"]["StringValue"].startswith("unversioned")


def test_a_wrapped_parked_message_comes_back_as_it_was(aws: Emulator) -> None:
    """A v4 record (newer than this reader) whose text SQS would refuse (U+FFFE in a string)
    is parked wrapped; once redriven, a reader that knows v4 gets the original payload,
    character for character."""
    sqs, url, arn = _park_queue(aws)
    old, _ = make(sqs=sqs, park_queue_url=url, on_newer="park")
    enc = PRODUCER.encode(OrderV3(id="a\ufffeb", qty=2, note="n"))
    newer = PRODUCER.encode(OrderV4(id="z\ufffe", quantity=4))
    event = kinesis_event(enc, newer)
    report = old.process(event, None)
    assert [r.outcome for r in report.records] == ["tolerated", "parked"]
    messages = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"]
    )["Messages"]
    assert "\ufffe" not in messages[0]["Body"]
    reader = vm.Consumer(PRODUCER)
    got: list[OrderV4] = []
    reader.handler(OrderV4)(lambda msg, meta: got.append(msg))
    again = reader.process(lambda_sqs_event(messages, arn), None)
    assert [r.outcome for r in again.records] == ["handled"]
    assert got == [OrderV4(id="z\ufffe", quantity=4)]


def test_a_malformed_wrapped_message_is_rejected() -> None:
    """A message claiming the wrapped form whose body is not base64 is rejected as a record
    of no readable shape, not failed."""
    consumer, _ = make()
    event = sqs_event(PRODUCER.encode(OrderV2(id="a", qty=1)))
    rec = event["Records"][0]
    rec["body"] = "not base64!"
    rec["messageAttributes"]["vmsg-parked-encoding"] = {
        "stringValue": "base64",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    [result] = consumer.process(event, None).records
    assert result.outcome == "rejected"
    assert isinstance(result.error, vm.EventShapeError)


# ---- invalid text ---------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["process", "reference"])
def test_a_body_with_a_lone_surrogate_is_rejected_as_a_payload_error(fast: bool) -> None:
    """A body holding a lone UTF-16 surrogate (escaped in the event's JSON) is not text: the
    record is rejected with a PayloadError naming the position, never failed with a
    UnicodeEncodeError; its neighbours are handled."""
    consumer, _ = make()
    encs = [PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(3)]
    event = json.loads(json.dumps(sqs_event(*encs)))
    event["Records"][1]["body"] = '{"id": "\ud800", "qty": 1}'
    report = consumer._process(event, fast=fast)
    assert [r.outcome for r in report.records] == ["handled", "rejected", "handled"]
    error = report.records[1].error
    assert isinstance(error, vm.PayloadError)
    assert "surrogate" in str(error)
    assert "\ud800" not in str(error)


# ---- Lambda deadlines ------------------------------------------------------------------


class FakeClock:
    """``clock.monotonic`` for the consumer: time moves only when a handler says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeContext:
    """Lambda's context: ``get_remaining_time_in_millis`` read from the fake clock."""

    def __init__(self, clock: FakeClock, timeout_ms: int) -> None:
        self.clock = clock
        self.deadline = clock.now + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - self.clock.now) * 1000)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    from versioned_msgs._aws import clock

    fake = FakeClock()
    monkeypatch.setattr(clock, "monotonic", fake)
    return fake


def _slow_consumer(
    fake_clock: FakeClock, ms_per_record: int, **options: Any
) -> tuple[vm.Consumer, list[str]]:
    """A consumer whose handler takes ``ms_per_record`` of the fake clock per record."""
    consumer = vm.Consumer(consumer_registry(), **options)
    started: list[str] = []

    @consumer.handler(OrderV2)
    def handle(order: OrderV2, meta: vm.Meta) -> None:
        started.append(order.id)
        fake_clock.now += ms_per_record / 1000

    return consumer, started


@pytest.mark.parametrize("fast", [True, False], ids=["process", "reference"])
def test_no_record_starts_within_the_deadline_margin(fake_clock: FakeClock, fast: bool) -> None:
    """A 9 s invocation, records taking 2 s each, the default 1 s margin: four records run
    (the fifth would start at 8 s, within the margin); the rest are ``deferred``, listed in
    batchItemFailures, never started, and counted by outcome."""
    consumer, started = _slow_consumer(fake_clock, 2000)
    encs = [PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(7)]
    event = sqs_event(*encs)
    context = FakeContext(fake_clock, 9_000)
    report = consumer._process(event, context=context, fast=fast)
    assert [r.outcome for r in report.records] == ["handled"] * 4 + ["deferred"] * 3
    assert started == ["o0", "o1", "o2", "o3"]
    ids = [rec["messageId"] for rec in event["Records"]]
    assert report.response == {"batchItemFailures": [{"itemIdentifier": i} for i in ids[4:]]}
    deferred = report.records[4]
    assert "deadline_margin_ms" in str(deferred.error)
    assert report.counts()[("(none)", 0, "deferred")] == 3


def test_the_deadline_is_read_through_process_and_handle_event(fake_clock: FakeClock) -> None:
    """``process(event, context)`` and ``handle_event`` honour the context; with a Kinesis
    event the deferred records follow the first one in batchItemFailures; an async source
    raises RecordsFailedError naming them."""
    consumer, _ = _slow_consumer(fake_clock, 600, deadline_margin_ms=500)
    encs = [PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(4)]
    report = consumer.process(kinesis_event(*encs), FakeContext(fake_clock, 1600))
    assert [r.outcome for r in report.records] == ["handled", "handled", "deferred", "deferred"]
    from versioned_msgs.testing import sns_event

    with pytest.raises(vm.RecordsFailedError):
        consumer.handle_event(sns_event(*encs), FakeContext(fake_clock, 1600))


def test_a_short_timeout_still_processes_records(fake_clock: FakeClock) -> None:
    """The margin is capped at half the time the invocation started with: a 1 s timeout
    with the default 1 s margin still runs records for half a second."""
    consumer, started = _slow_consumer(fake_clock, 200)
    encs = [PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(5)]
    report = consumer.process(sqs_event(*encs), FakeContext(fake_clock, 1000))
    assert [r.outcome for r in report.records] == ["handled"] * 3 + ["deferred"] * 2
    assert started == ["o0", "o1", "o2"]


def test_no_context_or_no_margin_means_no_deadline(fake_clock: FakeClock) -> None:
    """Without a context (or with deadline_margin_ms=None, or a context without the method)
    every record runs, however long it takes."""
    encs = [PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(3)]
    for consumer, context in (
        (_slow_consumer(fake_clock, 10_000)[0], None),
        (
            _slow_consumer(fake_clock, 10_000, deadline_margin_ms=None)[0],
            FakeContext(fake_clock, 1),
        ),
        (_slow_consumer(fake_clock, 10_000)[0], object()),
    ):
        report = consumer.process(sqs_event(*encs), context)
        assert [r.outcome for r in report.records] == ["handled"] * 3
    with pytest.raises(ValueError, match="deadline_margin_ms"):
        vm.Consumer(consumer_registry(), deadline_margin_ms=-1)


def test_a_deferred_record_counts_as_a_fast_path_hand_back(fake_clock: FakeClock) -> None:
    """Past the deadline the fast path starts nothing itself: the records it hands back are
    counted with the reason "deadline"."""
    consumer, _ = _slow_consumer(fake_clock, 2000)
    encs = [PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)) for i in range(4)]
    consumer.process(sqs_event(*encs), FakeContext(fake_clock, 5000))
    stats = consumer._fast_stats
    assert (stats.fast, dict(stats.handed_back)) == (2, {"deadline": 2})


# ---- no payload values in errors --------------------------------------------------------


class Person(pydantic.BaseModel):
    national_id: int


class Colour(enum.Enum):
    RED = "red"


class Paint(msgspec.Struct):
    colour: Colour


class CardV1(msgspec.Struct):
    card: str


class CardV2(msgspec.Struct):
    last4: int


def test_errors_name_fields_and_kinds_never_payload_values() -> None:
    """A pydantic model refusing a national id, a msgspec enum refusing a value, and an
    upgrader failing on a card number: the records are rejected with PayloadErrors, and
    neither those nor the RecordsFailedError Lambda logs contain the values; each error
    names the field and the kind of problem, and the upgrader's own exception stays
    reachable as ``__cause__``."""
    from versioned_msgs.testing import sns_event

    reg = vm.Registry()
    reg.message("person", version=1)(Person)
    reg.message("paint", version=1)(Paint)
    reg.message("card", version=1)(CardV1)
    reg.message("card", version=2)(CardV2)
    reg.upgrader("card", from_version=1)(lambda d: {"last4": int(d["card"])})
    consumer = vm.Consumer(reg)
    for model in (Person, Paint, CardV2):
        consumer.handler(model)(lambda msg, meta: None)
    secrets = ["756.1234.5678.97", "ultraviolet", "4111 1111 1111 1111"]
    encoded = [
        vm.Encoded(json.dumps({"national_id": secrets[0]}).encode(), reg.stamp("person", 1)),
        vm.Encoded(json.dumps({"colour": secrets[1]}).encode(), reg.stamp("paint", 1)),
        vm.Encoded(json.dumps({"card": secrets[2]}).encode(), reg.stamp("card", 1)),
    ]
    report = consumer.process(sqs_event(*encoded), None)
    assert [r.outcome for r in report.records] == ["rejected"] * 3
    texts = [str(r.error) for r in report.records]
    assert "national_id: int_parsing" in texts[0]
    assert "colour" in texts[1]
    assert "the upgrader from v1 to v2 failed: ValueError" in texts[2]
    assert not any(secret in text for secret in secrets for text in texts)
    card_error = report.records[2].error
    assert card_error is not None
    assert secrets[2] in str(card_error.__cause__)  # the user's own exception, kept
    with pytest.raises(vm.RecordsFailedError) as info:
        consumer.handle_event(sns_event(*encoded), None)
    assert not any(secret in str(info.value) for secret in secrets)
