"""End to end on the moto server: messages sent with boto3 (and vm.Publisher), received from
SQS, shaped as Lambda's SQS trigger delivers them (``lambda_sqs_event``), then consumed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from consumer_models import PRODUCER, OrderV1, OrderV2, OrderV3, OrderV4, Seen, consumer_registry

import versioned_msgs as vm
from versioned_msgs.testing import Emulator, lambda_sqs_event


def make_queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def receive_all(sqs: Any, url: str, expected: int) -> list[dict[str, Any]]:
    """Receive until ``expected`` messages came (moto delivers synchronously)."""
    out: list[dict[str, Any]] = []
    for _ in range(10):
        resp = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        out.extend(resp.get("Messages", []))
        if len(out) >= expected:
            break
    assert len(out) == expected
    return out


def send_stamped(sqs: Any, url: str, enc: vm.Encoded, **extra: Any) -> str:
    attrs = {"tenant": {"DataType": "String", "StringValue": "acme"}}
    attrs.update(enc.stamp.to_message_attributes())
    return str(
        sqs.send_message(
            QueueUrl=url, MessageBody=enc.body.decode(), MessageAttributes=attrs, **extra
        )["MessageId"]
    )


def make_consumer(**options: Any) -> tuple[vm.Consumer, Seen]:
    consumer = vm.Consumer(consumer_registry(), **options)
    seen = Seen()
    consumer.handler(OrderV2)(seen)
    return consumer, seen


def test_sqs_mixed_versions_through_a_real_queue(aws: Emulator) -> None:
    """v1, v2, a newer readable v3 and a newer unreadable v4 sent with raw boto3: upgraded,
    handled, tolerated, retried; the response names exactly the v4 message."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "orders")
    ids = [
        send_stamped(sqs, url, PRODUCER.encode(OrderV1(id="a"))),
        send_stamped(sqs, url, PRODUCER.encode(OrderV2(id="b", qty=2))),
        send_stamped(sqs, url, PRODUCER.encode(OrderV3(id="c", qty=3, note="n"))),
        send_stamped(sqs, url, PRODUCER.encode(OrderV4(id="d", quantity=4))),
    ]
    event = lambda_sqs_event(receive_all(sqs, url, 4), arn)
    consumer, seen = make_consumer()
    report = consumer.process(event, None)
    by_id = {r.message_id: r.outcome for r in report.records}
    assert [by_id[i] for i in ids] == ["upgraded", "handled", "tolerated", "retried"]
    assert report.response == {"batchItemFailures": [{"itemIdentifier": ids[3]}]}
    assert sorted(seen.ids) == ["a", "b", "c"]
    assert all(meta.attributes == {"tenant": "acme"} for _, meta in seen.calls)


def test_lambda_sqs_event_shape(aws: Emulator) -> None:
    """lambda_sqs_event gives camelCase records with stringValue/dataType attributes."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "shape")
    send_stamped(sqs, url, PRODUCER.encode(OrderV2(id="b", qty=2)))
    rec = lambda_sqs_event(receive_all(sqs, url, 1), arn)["Records"][0]
    assert rec["eventSource"] == "aws:sqs"
    assert rec["eventSourceARN"] == arn
    assert rec["messageAttributes"]["vmsg-version"]["dataType"] == "Number"
    assert rec["messageAttributes"]["vmsg-version"]["stringValue"] == "2"
    assert rec["messageAttributes"]["tenant"]["stringListValues"] == []
    assert rec["attributes"]["ApproximateReceiveCount"] == "1"
    assert set(rec) >= {"messageId", "receiptHandle", "body", "md5OfBody", "awsRegion"}


@pytest.mark.parametrize("raw", [False, True])
def test_sns_to_sqs_raw_and_enveloped(aws: Emulator, raw: bool) -> None:
    """Published to SNS with raw boto3, delivered to SQS (raw or enveloped), consumed."""
    sns = aws.client("sns")
    sqs = aws.client("sqs")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    url, arn = make_queue(sqs, "orders-sub")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    if raw:
        sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true"
        )
    for enc in (PRODUCER.encode(OrderV1(id="a")), PRODUCER.encode(OrderV4(id="d", quantity=1))):
        attrs = {"tenant": {"DataType": "String", "StringValue": "acme"}}
        attrs.update(enc.stamp.to_message_attributes())
        sns.publish(TopicArn=topic, Message=enc.body.decode(), MessageAttributes=attrs)
    msgs = receive_all(sqs, url, 2)
    if not raw:
        assert json.loads(msgs[0]["Body"])["Type"] == "Notification"
    consumer, seen = make_consumer()
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert sorted(r.outcome for r in report.records) == ["retried", "upgraded"]
    assert seen.ids == ["a"]
    assert seen.calls[0][1].attributes == {"tenant": "acme"}
    assert report.response is not None
    assert len(report.response["batchItemFailures"]) == 1


def test_publisher_to_sns_to_sqs(aws: Emulator) -> None:
    """vm.Publisher.publish -> SNS -> SQS (enveloped) -> Consumer: the stamp survives."""
    sns = aws.client("sns")
    sqs = aws.client("sqs")
    topic = sns.create_topic(Name="pub")["TopicArn"]
    url, arn = make_queue(sqs, "pub-sub")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    pub = vm.Publisher(PRODUCER, sns=sns, sqs=sqs, producer="orders-api:7")
    pub.publish(topic, OrderV3(id="p", qty=1, note="x"), attributes={"tenant": "acme"})
    pub.send(url, OrderV1(id="q"))
    consumer, seen = make_consumer()
    report = consumer.process(lambda_sqs_event(receive_all(sqs, url, 2), arn), None)
    assert sorted(r.outcome for r in report.records) == ["tolerated", "upgraded"]
    assert sorted(seen.ids) == ["p", "q"]
    producers = {meta.producer for _, meta in seen.calls}
    assert producers == {"orders-api:7"}


def test_fifo_queue_group_ids_reach_meta(aws: Emulator) -> None:
    """A FIFO queue's MessageGroupId is Meta.group_id; a failure stops its group only."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "orders.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    send_stamped(sqs, url, PRODUCER.encode(OrderV2(id="g1-a", qty=1)), MessageGroupId="g1")
    send_stamped(sqs, url, PRODUCER.encode(OrderV4(id="g1-b", quantity=1)), MessageGroupId="g1")
    send_stamped(sqs, url, PRODUCER.encode(OrderV2(id="g1-c", qty=1)), MessageGroupId="g1")
    msgs = receive_all(sqs, url, 3)
    consumer, seen = make_consumer()
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["handled", "retried", "retried"]
    assert seen.calls[0][1].group_id == "g1"
    assert report.response is not None
    assert [f["itemIdentifier"] for f in report.response["batchItemFailures"]] == [
        m["MessageId"] for m in msgs[1:]
    ]
