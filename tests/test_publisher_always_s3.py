"""``Publisher(always_through_s3=True)``: every SNS/SQS message goes through the claim check,
whatever its size, and our consumer reads it back. Against the moto server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_publisher import ORDER, OrderV2, _queue, _receive, make_registry

import versioned_msgs as vm
from versioned_msgs.testing import Emulator, lambda_sqs_event

BUCKET = "claim-checks"
POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"
ORDER_BODY = b'{"order_id":"o-1","total_cents":1250,"currency":"EUR"}'


def _publisher(aws: Emulator, **options: Any) -> vm.Publisher:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return vm.Publisher(
        make_registry(),
        sqs=aws.client("sqs"),
        sns=aws.client("sns"),
        s3=s3,
        large_payload_bucket=BUCKET,
        always_through_s3=True,
        **options,
    )


def _pointed_to(aws: Emulator, body: str) -> dict[str, Any]:
    """The S3 object a pointer body names (asserting the body is the extended-client pointer)."""
    kind, where = json.loads(body)
    assert kind == POINTER
    assert where["s3BucketName"] == BUCKET
    assert where["s3Key"].startswith("vmsg-large/order.created/")
    obj: dict[str, Any] = aws.client("s3").get_object(Bucket=BUCKET, Key=where["s3Key"])
    return obj


def _consume(aws: Emulator, messages: list[dict[str, Any]], arn: str) -> list[Any]:
    """Our consumer, allowed into the bucket, handling what the queue delivered."""
    consumer = vm.Consumer(make_registry(), s3=aws.client("s3"), allowed_buckets=[BUCKET])
    seen: list[Any] = []
    consumer.handler(OrderV2)(lambda msg, meta: seen.append(msg))
    report = consumer.process(lambda_sqs_event(messages, arn), None)
    assert report.response == {"batchItemFailures": []}
    assert {r.outcome for r in report.records} == {"handled"}
    return seen


def test_a_tiny_sqs_message_arrives_as_a_pointer_and_is_read_back(aws: Emulator) -> None:
    """A 55-byte order: the message is the pointer (stamp attributes and ExtendedPayloadSize
    beside it), the S3 object holds the body with the stamp, and the consumer reads it."""
    pub = _publisher(aws, producer="orders-api:7")
    sqs, url, arn = _queue(aws)
    pub.send(url, ORDER, attributes={"tenant": "acme"})
    [m] = _receive(sqs, url)
    assert m["MessageAttributes"] == {
        "ExtendedPayloadSize": {"DataType": "Number", "StringValue": str(len(ORDER_BODY))},
        "vmsg-type": {"DataType": "String", "StringValue": "order.created"},
        "vmsg-version": {"DataType": "Number", "StringValue": "2"},
        "vmsg-producer": {"DataType": "String", "StringValue": "orders-api:7"},
        "tenant": {"DataType": "String", "StringValue": "acme"},
    }
    obj = _pointed_to(aws, m["Body"])
    assert obj["Body"].read() == ORDER_BODY
    assert obj["ContentType"] == "application/json"
    assert obj["Metadata"] == {
        "vmsg-type": "order.created",
        "vmsg-version": "2",
        "vmsg-producer": "orders-api:7",
    }
    assert _consume(aws, [m], arn) == [ORDER]


def test_every_entry_of_a_batch_goes_through_s3(aws: Emulator) -> None:
    """send_batch: each entry has its own object; embed=True puts the envelope in S3."""
    pub = _publisher(aws)
    sqs, url, arn = _queue(aws)
    orders = [OrderV2(order_id=f"o-{i}", total_cents=i) for i in range(12)]
    assert pub.send_batch(url, orders).ok
    assert pub.send_batch(url, orders[:1], embed=True).ok
    messages = _receive(sqs, url, 13)
    assert len(messages) == 13
    keys = {json.loads(m["Body"])[1]["s3Key"] for m in messages}
    assert len(keys) == 13
    bodies = [_pointed_to(aws, m["Body"])["Body"].read() for m in messages]
    assert sum(b.startswith(b'{"vmsg":') for b in bodies) == 1
    seen = _consume(aws, messages[:10], arn) + _consume(aws, messages[10:], arn)
    assert sorted(seen, key=lambda o: (o.order_id, o.total_cents)) == sorted(
        [*orders, orders[0]], key=lambda o: (o.order_id, o.total_cents)
    )


def test_sns_publish_and_publish_batch_go_through_s3(aws: Emulator) -> None:
    """publish and publish_batch offload too; through an SNS envelope into SQS, the
    consumer follows the pointer."""
    pub = _publisher(aws)
    sns = aws.client("sns")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    sqs, url, arn = _queue(aws)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    pub.publish(topic, ORDER)
    assert pub.publish_batch(topic, [OrderV2(order_id="o-2", total_cents=2)]).ok
    messages = _receive(sqs, url, 2)
    assert len(messages) == 2
    for m in messages:
        envelope = json.loads(m["Body"])
        assert envelope["MessageAttributes"]["ExtendedPayloadSize"]["Type"] == "Number"
        _pointed_to(aws, envelope["Message"])
    seen = _consume(aws, messages, arn)
    assert sorted(o.order_id for o in seen) == ["o-1", "o-2"]


def test_other_carriers_are_unchanged(aws: Emulator) -> None:
    """put_object writes the stamped object where it is told, not a pointer: the option is
    about SNS and SQS messages only."""
    pub = _publisher(aws)
    pub.put_object(BUCKET, "orders/o-1.json", ORDER)
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["Key"] for o in listed] == ["orders/o-1.json"]


@pytest.mark.parametrize("bucket", [None, ""])
def test_always_through_s3_needs_a_bucket(bucket: str | None) -> None:
    """Without large_payload_bucket there is nowhere to write: refused when built."""
    with pytest.raises(ValueError, match="always_through_s3=True needs a large_payload_bucket"):
        vm.Publisher(make_registry(), large_payload_bucket=bucket, always_through_s3=True)


def test_the_default_keeps_small_messages_inline(aws: Emulator) -> None:
    """always_through_s3 defaults to False: a small message travels inline, nothing in S3."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    pub = vm.Publisher(make_registry(), s3=s3, large_payload_bucket=BUCKET)
    assert pub.always_through_s3 is False
    sqs, url, _ = _queue(aws)
    pub.send(url, ORDER)
    [m] = _receive(sqs, url)
    assert m["Body"].encode() == ORDER_BODY
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_the_option_shows_in_the_publishers_repr() -> None:
    pub = vm.Publisher(make_registry(), large_payload_bucket=BUCKET, always_through_s3=True)
    assert repr(pub).endswith(f"large_payload_bucket={BUCKET!r}, always_through_s3=True)")
