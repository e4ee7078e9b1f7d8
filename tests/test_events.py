"""Recognising Lambda event sources from their shape, nested ones included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from consumer_models import v1, v2

import versioned_msgs as vm
from versioned_msgs._aws.events import (
    INVALID,
    OBJECT,
    PAYLOAD,
    POINTER,
    SKIP,
    event_records,
    park_payload,
    records,
)
from versioned_msgs._core.attributes import attributes_digest, boto3_attributes, plain_attributes
from versioned_msgs.testing import (
    eventbridge_event,
    kinesis_event,
    lambda_sqs_event,
    s3_event,
    sns_event,
    sns_sqs_event,
    sqs_event,
)

EVENTS = Path(__file__).parent / "events"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def kinds(event: Any) -> list[tuple[int, str]]:
    return [(r.kind, r.source) for r in records(event)[1]]


# ---- real-shaped events (AWS samples, copied into tests/events) -------------------------------


@pytest.mark.parametrize(
    ("name", "trigger", "expected"),
    [
        ("sqsEvent.json", "sqs", [(PAYLOAD, "sqs"), (PAYLOAD, "sqs")]),
        ("sqsDlqTriggerEvent.json", "sqs", [(PAYLOAD, "sqs")]),
        ("snsEvent.json", "sns", [(PAYLOAD, "sns")]),
        ("snsSqsEvent.json", "sqs", [(PAYLOAD, "sqs")]),
        ("snsSqsFifoEvent.json", "sqs", [(PAYLOAD, "sqs")]),
        ("s3Event.json", "s3", [(OBJECT, "s3")]),
        ("s3EventGlacier.json", "s3", [(OBJECT, "s3")]),
        ("s3EventDecodedKey.json", "s3", [(OBJECT, "s3")]),
        ("s3EventDeleteObject.json", "s3", [(SKIP, "s3")]),
        ("s3SqsEvent.json", "sqs", [(OBJECT, "s3")]),
        ("kinesisStreamEvent.json", "kinesis", [(PAYLOAD, "kinesis"), (PAYLOAD, "kinesis")]),
        ("kinesisStreamEventOneRecord.json", "kinesis", [(PAYLOAD, "kinesis")]),
        ("eventBridgeEvent.json", "eventbridge", [(PAYLOAD, "eventbridge")]),
        ("s3EventBridgeNotificationObjectCreatedEvent.json", "eventbridge", [(OBJECT, "s3")]),
        ("s3EventBridgeNotificationObjectDeletedEvent.json", "eventbridge", [(SKIP, "s3")]),
        ("s3EventBridgeNotificationObjectExpiredEvent.json", "eventbridge", [(SKIP, "s3")]),
        (
            "s3EventBridgeNotificationObjectRestoreCompletedEvent.json",
            "eventbridge",
            [(SKIP, "s3")],
        ),
    ],
)
def test_real_events_are_recognised(
    name: str, trigger: str, expected: list[tuple[int, str]]
) -> None:
    """Every sample event maps to its trigger and to records of the right kind."""
    event = load(name)
    assert event_records(event)[0] == trigger
    assert kinds(event) == expected


def test_sns_envelope_in_sqs_is_unwrapped_from_pretty_printed_json() -> None:
    """The pretty-printed SNS envelope yields its Message as the body."""
    rec = records(load("snsSqsEvent.json"))[1][0]
    assert json.loads(rec.body or "") == {"message": "hello world", "username": "lessa"}
    assert rec.message_id == "79406a00-bf15-46ca-978c-22c3613fcb30"


def test_fifo_sns_sqs_record_has_group_and_order_key() -> None:
    """FIFO queue: group id from the system attributes; the order key is the group."""
    rec = records(load("snsSqsFifoEvent.json"))[1][0]
    assert rec.group_id == "powertools-test"
    assert rec.order_key == "powertools-test"


def test_s3_keys_are_url_decoded() -> None:
    """S3 notification keys are URL-encoded (+ for space); records carry the real key."""
    rec = records(load("s3EventDecodedKey.json"))[1][0]
    assert (rec.bucket, rec.key, rec.version_id) == ("sourcebucket", "Happy Face.jpg", "version")
    built = records(s3_event("b", "dir/a b+c%.json", '"abc"'))[1][0]
    assert built.key == "dir/a b+c%.json"
    assert built.etag == "abc"


def test_s3_in_sqs_body_carries_etag_and_version() -> None:
    """An S3 notification in an SQS body: bucket, key, eTag, versionId; item id = messageId."""
    rec = records(load("s3SqsEvent.json"))[1][0]
    assert (rec.bucket, rec.key) == ("xxx", "test.pdf")
    assert rec.etag == "2e3ad1e983318bbd8e73b080e2997980"
    assert rec.version_id == "yd3d4HaWOT2zguDLvIQLU6ptDTwKBnQV"
    assert rec.message_id == "ca3e7a89-c358-40e5-8aa0-5da01403c267"


def test_s3_via_eventbridge_uses_detail_object() -> None:
    """S3 via EventBridge: detail.object.key/etag/version-id; the key is not URL-decoded."""
    event = load("s3EventBridgeNotificationObjectCreatedEvent.json")
    event["detail"]["object"]["key"] = "a+b.json"
    event["detail"]["object"]["version-id"] = "v1"
    rec = records(event)[1][0]
    assert (rec.bucket, rec.key, rec.etag, rec.version_id) == (
        "example-bucket",
        "a+b.json",
        "4e68adba0abe2dc8653dc3354e14c01d",
        "v1",
    )


def test_kinesis_data_is_base64_decoded() -> None:
    """Kinesis data is decoded; the sequence number is the item id; the shard the order key."""
    rec = records(load("kinesisStreamEvent.json"))[1][0]
    assert rec.body == b"Hello, this is a test."
    assert rec.message_id == "49590338271490256608559692538361571095921575989136588898"
    assert rec.order_key == "shardId-000000000006"
    assert rec.group_id == "1"


def test_firehose_and_unknown_shapes_raise() -> None:
    """Firehose transformation events and unknown shapes raise EventShapeError."""
    with pytest.raises(vm.EventShapeError, match="Firehose"):
        event_records(load("kinesisFirehoseSQSEvent.json"))
    with pytest.raises(vm.EventShapeError, match="got keys a, b"):
        event_records({"a": 1, "b": 2})


# ---- built events and nesting ------------------------------------------------------------------


def test_builders_round_trip_through_recognition() -> None:
    """Every testing builder produces an event recognised as its source."""
    assert kinds(sqs_event(v1())) == [(PAYLOAD, "sqs")]
    assert kinds(sns_event(v1())) == [(PAYLOAD, "sns")]
    assert kinds(sns_sqs_event(v1())) == [(PAYLOAD, "sqs")]
    assert kinds(sns_sqs_event(v1(), raw=True)) == [(PAYLOAD, "sqs")]
    assert kinds(kinesis_event(v1(), v2())) == [(PAYLOAD, "kinesis")] * 2
    assert kinds(eventbridge_event(v1())) == [(PAYLOAD, "eventbridge")]
    assert kinds(s3_event("b", "k")) == [(OBJECT, "s3")]


def test_eventbridge_builder_wants_one_message() -> None:
    """EventBridge invokes Lambda with one event: two messages are a usage error."""
    with pytest.raises(ValueError, match="exactly one message"):
        eventbridge_event(v1(), v2())


def test_s3_notification_inside_sns_envelope_inside_sqs() -> None:
    """S3 -> SNS -> SQS: the S3 record inside the envelope's Message is found."""
    s3 = s3_event("bkt", "a b.json", "e1")
    envelope = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": json.dumps(s3),
    }
    event = sqs_event(v1())
    event["Records"][0]["messageAttributes"] = {}
    event["Records"][0]["body"] = json.dumps(envelope, indent=2)
    [rec] = records(event)[1]
    assert (rec.kind, rec.bucket, rec.key, rec.etag) == (OBJECT, "bkt", "a b.json", "e1")
    assert rec.message_id == event["Records"][0]["messageId"]


def test_s3_test_event_is_skipped_anywhere() -> None:
    """s3:TestEvent in an SQS body or an SNS message is a SKIP record."""
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    event = sqs_event(v1())
    event["Records"][0]["messageAttributes"] = {}
    event["Records"][0]["body"] = test_event
    assert kinds(event) == [(SKIP, "s3")]
    sns = sns_event(v1())
    sns["Records"][0]["Sns"]["Message"] = test_event
    sns["Records"][0]["Sns"]["MessageAttributes"] = {}
    assert kinds(sns) == [(SKIP, "s3")]


def test_stamped_body_is_never_inspected_for_nesting() -> None:
    """A body with a stamp in its attributes is the payload, even if it looks like an event."""
    event = sqs_event(v1())
    event["Records"][0]["body"] = json.dumps({"Records": [{"eventSource": "aws:s3"}]})
    assert kinds(event) == [(PAYLOAD, "sqs")]


def test_extended_client_pointer_is_recognised() -> None:
    """The extended-client pointer body becomes a POINTER record to its bucket/key."""
    event = sqs_event(v1())
    event["Records"][0]["body"] = json.dumps(
        ["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b", "s3Key": "k"}]
    )
    [rec] = records(event)[1]
    assert (rec.kind, rec.bucket, rec.key) == (POINTER, "b", "k")
    assert rec.attributes is not None


def test_malformed_records_become_invalid_not_exceptions() -> None:
    """A record missing required fields is an INVALID record naming the problem."""
    event = kinesis_event(v1())
    event["Records"][0]["kinesis"]["data"] = "***not base64***"
    [rec] = records(event)[1]
    assert rec.kind == INVALID
    assert isinstance(rec.error, vm.EventShapeError)
    assert "kinesis record" in str(rec.error)


# ---- attributes ----------------------------------------------------------------------------------


def test_plain_attributes_in_every_shape() -> None:
    """Lambda SQS, boto3 and SNS shapes become plain values; vmsg-* are removed."""
    lam = {
        "vmsg-type": {"stringValue": "x", "dataType": "String"},
        "s": {"stringValue": "acme", "dataType": "String"},
        "n": {"stringValue": "3", "dataType": "Number"},
        "f": {"stringValue": "2.5", "dataType": "Number.float"},
        "b": {"binaryValue": "aGk=", "dataType": "Binary"},
    }
    assert plain_attributes(lam) == {"s": "acme", "n": 3, "f": 2.5, "b": b"hi"}
    sns = {
        "s": {"Type": "String", "Value": "v"},
        "arr": {"Type": "String.Array", "Value": '["a", 1]'},
        "b": {"Type": "Binary", "Value": "aGk="},
    }
    assert plain_attributes(sns) == {"s": "v", "arr": ["a", 1], "b": b"hi"}
    boto = {"n": {"DataType": "Number", "StringValue": "7"}}
    assert plain_attributes(boto) == {"n": 7}
    assert plain_attributes(None) == {}


def test_boto3_attributes_report_what_cannot_be_carried() -> None:
    """Converting back to boto3 shape keeps values and names attributes it had to drop."""
    attrs, dropped = boto3_attributes(
        {
            "ok": {"stringValue": "1", "dataType": "Number"},
            "bin": {"binaryValue": "aGk=", "dataType": "Binary"},
            "broken": {"dataType": "Binary"},
            "arr": {"Type": "String.Array", "Value": "[1]"},
        }
    )
    assert attrs == {
        "ok": {"DataType": "Number", "StringValue": "1"},
        "bin": {"DataType": "Binary", "BinaryValue": b"hi"},
        "arr": {"DataType": "String", "StringValue": "[1]"},
    }
    assert dropped == ["broken"]


def test_park_payload_per_trigger() -> None:
    """Parking sends the original body: SQS body, SNS message, Kinesis data, S3/EB events."""
    sqs = records(sqs_event(v1(), attributes={"t": "x"}))[1][0]
    body, attrs, _ = park_payload(sqs)
    assert body == v1().body.decode()
    assert attrs["t"] == {"DataType": "String", "StringValue": "x"}
    sns = records(sns_event(v1()))[1][0]
    assert park_payload(sns)[0] == v1().body.decode()
    kin = records(kinesis_event(v1()))[1][0]
    assert json.loads(park_payload(kin)[0])["vmsg"]["type"] == "order.created"
    s3 = records(s3_event("b", "k"))[1][0]
    assert json.loads(park_payload(s3)[0])["Records"][0]["eventSource"] == "aws:s3"


def test_eventbridge_envelope_is_found_whatever_the_key_order() -> None:
    """An EventBridge detail with data before vmsg is still the embedded envelope."""
    event = eventbridge_event(v2())
    detail = event["detail"]
    event["detail"] = {"data": detail["data"], "vmsg": detail["vmsg"]}
    [rec] = records(event)[1]
    assert rec.body is not None
    assert bytes(rec.body).startswith(b'{"vmsg":')


def test_null_version_ids_are_dropped() -> None:
    """A versionId of "null" (versioning off) is not used to read: the ETag decides."""
    event = load("s3EventBridgeNotificationObjectCreatedEvent.json")
    event["detail"]["object"]["version-id"] = "null"
    [rec] = records(event)[1]
    assert rec.version_id is None
    assert rec.etag == "4e68adba0abe2dc8653dc3354e14c01d"


def _string(value: str, dtype: str = "String") -> dict[str, Any]:
    return {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": dtype}


# Published examples of SQS's md5OfMessageAttributes algorithm.
_HELLO = {"dataType": "Binary", "binaryValue": "SGVsbG8gYmluYXJ5IHdvcmxkIQ=="}
_FLOAT = _string("4563442423554324324264524243.32543234", "Number.float")


@pytest.mark.parametrize(
    ("attrs", "digest"),
    [
        ({"attribName1": _string("attribValue 1")}, "19e27d4e946b072f3f58da80d94fd778"),
        ({"customNumberTypeAttrib": _FLOAT}, "9fe1b90bbd9965bdf77bac517c7d2495"),
        ({"binaryAttribute": _HELLO}, "31a92b15d92f8db860eda32aceb656c3"),
        (
            {
                "binaryAttribute": _HELLO,
                "customNumberTypeAttrib": _FLOAT,
                "attribName1": _string("attribValue 1"),
            },
            "c932db14a896c663f83c260297d594ff",
        ),
    ],
)
def test_attributes_digest_is_sqs_md5_of_message_attributes(
    attrs: dict[str, Any], digest: str
) -> None:
    """The digest matches SQS's published examples, whatever order the names come in."""
    assert attributes_digest(attrs) == digest


@pytest.mark.parametrize(
    "attrs",
    [
        {"a": {"stringValue": "x"}},  # no dataType
        {"a": {"dataType": "String"}},  # no value
        {"a": {"dataType": "Binary", "binaryValue": "not base64!"}},
        {"a": "String"},
        {"a": {"dataType": 3, "stringValue": "x"}},
    ],
)
def test_attributes_digest_of_attributes_not_in_lambda_shape_is_none(attrs: Any) -> None:
    """Attributes it cannot encode give None, never an exception."""
    assert attributes_digest(attrs) is None


def test_attributes_digest_agrees_with_what_sqs_delivers(aws: Any) -> None:
    """Messages received from the emulator, shaped as Lambda delivers them, carry the digest
    that attributes_digest computes from their attributes."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="digests")["QueueUrl"]
    attrs = {
        "vmsg-type": {"DataType": "String", "StringValue": "order.created"},
        "vmsg-version": {"DataType": "Number", "StringValue": "12"},
        "tenant": {"DataType": "String.tenant", "StringValue": "acmé"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffbytes"},
    }
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageAttributes=attrs)
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])
    event = lambda_sqs_event(got, "arn:aws:sqs:eu-west-1:123456789012:digests")
    rec = event["Records"][0]
    assert len(rec["messageAttributes"]) == 4
    assert attributes_digest(rec["messageAttributes"]) == rec["md5OfMessageAttributes"]
