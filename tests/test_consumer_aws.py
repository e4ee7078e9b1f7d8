"""End to end on the moto server: messages sent with boto3 (and vm.Publisher), received from
SQS, shaped as Lambda's SQS trigger delivers them (``lambda_sqs_event``), then consumed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_support import make_queue, read_shard, subscribe_queue
from consumer_models import PRODUCER, OrderV1, OrderV2, OrderV3, OrderV4, Seen, consumer_registry

import versioned_msgs as vm
from versioned_msgs.testing import Emulator, lambda_kinesis_event, lambda_sqs_event


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


@pytest.mark.parametrize("which", [0, 2], ids=["first-record", "later-record"])
def test_an_edited_captured_event_never_borrows_another_records_attributes(
    aws: Emulator, which: int
) -> None:
    """Regression: an event captured from a real queue, where every record carries the
    md5OfMessageAttributes SQS computed, with one record then edited as a fixture would be
    (vmsg-version 2 -> 1 to try an upgrade, a user attribute added). The edited record keeps
    the digest string its neighbours have, and is still processed with its own stamp and
    attributes: upgraded from v1 (the upgrader sets qty to 1), with ``{"tenant": "acme",
    "priority": 0}``; the others are handled as they were sent."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "captured")
    for i in range(4):
        send_stamped(sqs, url, PRODUCER.encode(OrderV2(id=f"o{i}", qty=i)))
    event = lambda_sqs_event(receive_all(sqs, url, 4), arn)
    digests = {rec["md5OfMessageAttributes"] for rec in event["Records"]}
    assert len(digests) == 1  # SQS's digest, the same for every record
    edited = event["Records"][which]
    edited["messageAttributes"]["vmsg-version"]["stringValue"] = "1"
    edited["messageAttributes"]["priority"] = {
        "stringValue": "0",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Number",
    }
    consumer, seen = make_consumer()
    report = consumer.process(event, None)
    outcomes = [r.outcome for r in report.records]
    assert outcomes == ["upgraded" if i == which else "handled" for i in range(4)]
    got = report.records[which].meta
    assert got is not None
    assert (got.version, got.upgraded_from, got.attributes) == (
        1,
        1,
        {"tenant": "acme", "priority": 0},
    )
    others = [r.meta for i, r in enumerate(report.records) if i != which]
    assert all(m is not None and m.attributes == {"tenant": "acme"} for m in others)
    assert [msg.qty for msg, _ in seen.calls] == [1 if i == which else i for i in range(4)]
    # and exactly what the reference path gives
    reference = consumer._process(event, fast=False)
    assert [(r.outcome, r.meta) for r in reference.records] == [
        (r.outcome, r.meta) for r in report.records
    ]


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
    topic, _, url, arn = subscribe_queue(sns, sqs, "orders", "orders-sub", raw=raw)
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


# ---- S3 notifications ----


def s3_to_queue(aws: Emulator, bucket: str, queue: str) -> tuple[Any, Any, str, str]:
    """A bucket whose ObjectCreated/ObjectRemoved notifications go to a new SQS queue."""
    s3 = aws.client("s3")
    sqs = aws.client("sqs")
    s3.create_bucket(Bucket=bucket)
    url, arn = make_queue(sqs, queue)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )
    return s3, sqs, url, arn


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return out
        out.extend(got)


def put_stamped(s3: Any, bucket: str, key: str, enc: vm.Encoded) -> dict[str, Any]:
    return dict(
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=enc.body,
            ContentType=enc.stamp.content_type,
            Metadata=enc.stamp.to_s3_metadata(),
        )
    )


def test_s3_notification_via_sqs_reads_the_exact_object(aws: Emulator) -> None:
    """S3 put -> notification in SQS -> the consumer reads that object (key with a space,
    URL-encoded in the event) and decodes it by its metadata stamp; the test event is skipped."""
    s3, sqs, url, arn = s3_to_queue(aws, "orders-bucket", "s3-events")
    put_stamped(s3, "orders-bucket", "in/order 1.json", PRODUCER.encode(OrderV1(id="s1")))
    msgs = drain(sqs, url)
    consumer, seen = make_consumer(s3=s3)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    outcomes = [r.outcome for r in report.records]
    assert "upgraded" in outcomes
    assert set(outcomes) <= {"upgraded", "skipped"}  # moto may send s3:TestEvent first
    assert seen.ids == ["s1"]
    meta = seen.calls[0][1]
    assert (meta.source, meta.bucket, meta.key) == ("s3", "orders-bucket", "in/order 1.json")
    assert report.response == {"batchItemFailures": []}


def test_s3_overwrite_race_is_skipped_not_processed_twice(aws: Emulator) -> None:
    """Two puts to one key before the consumer runs: the first event's object is superseded
    (skipped, IfMatch failed), the second is read once."""
    s3, sqs, url, arn = s3_to_queue(aws, "race", "race-events")
    put_stamped(s3, "race", "k.json", PRODUCER.encode(OrderV2(id="first", qty=1)))
    put_stamped(s3, "race", "k.json", PRODUCER.encode(OrderV2(id="second", qty=2)))
    msgs = [m for m in drain(sqs, url) if "s3:TestEvent" not in m["Body"]]
    assert len(msgs) == 2
    consumer, seen = make_consumer(s3=s3)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert sorted(r.outcome for r in report.records) == ["handled", "skipped"]
    assert seen.ids == ["second"]
    skipped = next(r for r in report.records if r.outcome == "skipped")
    assert isinstance(skipped.error, vm.StaleObjectError)
    assert skipped.error.reason == "superseded"


def test_s3_deleted_before_read_is_skipped_as_gone(aws: Emulator) -> None:
    """Object created then deleted: the create event finds it gone, the remove is skipped."""
    s3, sqs, url, arn = s3_to_queue(aws, "gone", "gone-events")
    put_stamped(s3, "gone", "k.json", PRODUCER.encode(OrderV2(id="x", qty=1)))
    s3.delete_object(Bucket="gone", Key="k.json")
    msgs = [m for m in drain(sqs, url) if "s3:TestEvent" not in m["Body"]]
    consumer, seen = make_consumer(s3=s3)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["skipped"] * len(msgs)
    assert seen.calls == []
    reasons = [r.error.reason for r in report.records if isinstance(r.error, vm.StaleObjectError)]
    assert "gone" in reasons


def test_s3_versioned_bucket_reads_the_event_version(aws: Emulator) -> None:
    """With versioning, the event's versionId is read even after an overwrite."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    first = put_stamped(s3, "versioned", "k", PRODUCER.encode(OrderV1(id="v-one")))
    put_stamped(s3, "versioned", "k", PRODUCER.encode(OrderV2(id="v-two", qty=2)))
    from versioned_msgs.testing import s3_event

    consumer, seen = make_consumer(s3=s3)
    event = s3_event("versioned", "k", first["ETag"], first["VersionId"])
    assert consumer.handle_event(event, None) is None
    assert seen.ids == ["v-one"]


def test_s3_object_too_large_is_rejected_before_reading(aws: Emulator) -> None:
    """max_bytes is checked against ContentLength: the record is rejected, async raises."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="big")
    resp = put_stamped(s3, "big", "k", PRODUCER.encode(OrderV2(id="x" * 200, qty=1)))
    from versioned_msgs.testing import s3_event

    consumer, _ = make_consumer(s3=s3, max_bytes=100)
    report = consumer.process(s3_event("big", "k", resp["ETag"]), None)
    assert [r.outcome for r in report.records] == ["rejected"]
    assert isinstance(report.records[0].error, vm.LimitExceededError)
    assert "max_bytes" in str(report.records[0].error)


def test_s3_notification_through_sns_envelope_in_sqs(aws: Emulator) -> None:
    """S3 -> SNS -> SQS: the S3 notification inside the SNS envelope inside the SQS body."""
    s3 = aws.client("s3")
    sns = aws.client("sns")
    sqs = aws.client("sqs")
    s3.create_bucket(Bucket="nested")
    topic = sns.create_topic(Name="s3-topic")["TopicArn"]
    url, arn = make_queue(sqs, "s3-sns-sqs")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    s3.put_bucket_notification_configuration(
        Bucket="nested",
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    put_stamped(s3, "nested", "o.json", PRODUCER.encode(OrderV2(id="deep", qty=1)))
    msgs = drain(sqs, url)
    consumer, seen = make_consumer(s3=s3)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert "handled" in [r.outcome for r in report.records]
    assert seen.ids == ["deep"]
    assert seen.calls[0][1].key == "o.json"


# ---- Kinesis, EventBridge ----


def test_kinesis_records_from_a_real_stream(aws: Emulator) -> None:
    """Publisher.put_record -> Kinesis -> GetRecords shaped as Lambda's Kinesis event."""
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    pub = vm.Publisher(PRODUCER, kinesis=kinesis)
    for msg in (OrderV1(id="k1"), OrderV4(id="k2", quantity=1), OrderV2(id="k3", qty=1)):
        pub.put_record("orders", msg, partition_key="p1")
    got, stream_arn, shard = read_shard(kinesis, "orders")
    event = lambda_kinesis_event(got, stream_arn, shard_id=shard)
    consumer, seen = make_consumer()
    report = consumer.process(event, None)
    assert [r.outcome for r in report.records] == ["upgraded", "retried", "retried"]
    assert report.response == {
        "batchItemFailures": [{"itemIdentifier": r["SequenceNumber"]} for r in got[1:]]
    }
    assert seen.ids == ["k1"]


def test_eventbridge_to_sqs(aws: Emulator) -> None:
    """Publisher.put_events -> EventBridge rule -> SQS target -> Consumer."""
    events = aws.client("events")
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "eb-target")
    events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["orders-app"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": arn}])
    pub = vm.Publisher(PRODUCER, events=events)
    result = pub.put_events([OrderV1(id="e1"), OrderV3(id="e2", qty=1)], source="orders-app")
    assert not result.failed
    msgs = receive_all(sqs, url, 2)
    assert json.loads(msgs[0]["Body"])["detail-type"] == "order.created"
    consumer, seen = make_consumer()
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert sorted(r.outcome for r in report.records) == ["tolerated", "upgraded"]
    assert sorted(seen.ids) == ["e1", "e2"]


# ---- parking and large payloads ----


def test_park_forwards_original_body_and_attributes(aws: Emulator) -> None:
    """on_newer="park": the v4 message goes to the park queue unchanged, with its attributes
    and vmsg-parked-reason added, and is acknowledged (not in batchItemFailures)."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "main")
    park_url, _ = make_queue(sqs, "parked")
    enc = PRODUCER.encode(OrderV4(id="late", quantity=1))
    send_stamped(sqs, url, enc)
    send_stamped(sqs, url, PRODUCER.encode(OrderV2(id="now", qty=1)))
    msgs = receive_all(sqs, url, 2)
    consumer, seen = make_consumer(on_newer="park", park_queue_url=park_url, sqs=sqs)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert sorted(r.outcome for r in report.records) == ["handled", "parked"]
    assert report.response == {"batchItemFailures": []}
    parked = receive_all(sqs, park_url, 1)[0]
    assert parked["Body"] == enc.body.decode()
    attrs = parked["MessageAttributes"]
    assert attrs["vmsg-version"]["StringValue"] == "4"
    assert attrs["tenant"]["StringValue"] == "acme"
    assert attrs["vmsg-parked-reason"]["StringValue"].startswith("newer: order.created v4")
    assert vm.Stamp.from_message_attributes(attrs) == enc.stamp
    assert seen.ids == ["now"]


def test_parked_message_is_readable_again_after_redrive(aws: Emulator) -> None:
    """A parked message, received from the park queue, is a normal stamped message."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "main2")
    park_url, park_arn = make_queue(sqs, "parked2")
    send_stamped(sqs, url, PRODUCER.encode(OrderV4(id="later", quantity=1)))
    consumer, _ = make_consumer(on_newer="park", park_queue_url=park_url, sqs=sqs)
    consumer.process(lambda_sqs_event(receive_all(sqs, url, 1), arn), None)
    newer = vm.Consumer(PRODUCER)
    seen = Seen()
    newer.handler(OrderV4)(seen)
    report = newer.process(lambda_sqs_event(receive_all(sqs, park_url, 1), park_arn), None)
    assert [r.outcome for r in report.records] == ["handled"]
    assert seen.ids == ["later"]


def test_park_into_fifo_queue_keeps_group(aws: Emulator) -> None:
    """A FIFO park queue gets the record's MessageGroupId and a deduplication id."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "src.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    park_url, _ = make_queue(sqs, "park.fifo", FifoQueue="true")
    send_stamped(sqs, url, PRODUCER.encode(OrderV4(id="f", quantity=1)), MessageGroupId="g7")
    consumer, _ = make_consumer(on_newer="park", park_queue_url=park_url, sqs=sqs)
    report = consumer.process(lambda_sqs_event(receive_all(sqs, url, 1), arn), None)
    assert [r.outcome for r in report.records] == ["parked"]
    parked = receive_all(sqs, park_url, 1)[0]
    assert parked["Attributes"]["MessageGroupId"] == "g7"


def test_failing_park_queue_reports_the_record_failed(aws: Emulator) -> None:
    """If parking fails (no such queue), the record is failed and reported, never dropped."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "main3")
    send_stamped(sqs, url, PRODUCER.encode(OrderV4(id="x", quantity=1)))
    msgs = receive_all(sqs, url, 1)
    missing = url.rsplit("/", 1)[0] + "/does-not-exist"
    consumer, _ = make_consumer(on_newer="park", park_queue_url=missing, sqs=sqs)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["failed"]
    assert report.response == {"batchItemFailures": [{"itemIdentifier": msgs[0]["MessageId"]}]}


def test_park_unversioned_sns_envelope_verbatim(aws: Emulator) -> None:
    """on_unversioned="park" forwards an SNS envelope body exactly as received."""
    sqs = aws.client("sqs")
    sns = aws.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    url, arn = make_queue(sqs, "env")
    park_url, _ = make_queue(sqs, "env-park")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message='{"legacy": true}')
    msgs = receive_all(sqs, url, 1)
    consumer, _ = make_consumer(on_unversioned="park", park_queue_url=park_url, sqs=sqs)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["parked"]
    parked = receive_all(sqs, park_url, 1)[0]
    assert parked["Body"] == msgs[0]["Body"]
    assert "unversioned" in parked["MessageAttributes"]["vmsg-parked-reason"]["StringValue"]


def test_large_payload_pointer_is_resolved_from_s3(aws: Emulator) -> None:
    """Publisher claim check: the SQS body is the extended-client pointer; the consumer reads
    the payload from S3 (stamp from the message attributes) under the size cap."""
    sqs = aws.client("sqs")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="large")
    url, arn = make_queue(sqs, "large-q")
    pub = vm.Publisher(PRODUCER, sqs=sqs, s3=s3, large_payload_bucket="large")
    big = OrderV2(id="L" * 1_100_000, qty=1)
    pub.send(url, big)
    msgs = receive_all(sqs, url, 1)
    assert json.loads(msgs[0]["Body"])[0] == "software.amazon.payloadoffloading.PayloadS3Pointer"
    consumer, seen = make_consumer(s3=s3, allowed_buckets=["large"])
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["handled"]
    assert seen.calls[0][0] == big
    assert "ExtendedPayloadSize" not in seen.calls[0][1].attributes
    small, _ = make_consumer(s3=s3, max_bytes=1000, allowed_buckets=["large"])
    report = small.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["rejected"]
    assert isinstance(report.records[0].error, vm.LimitExceededError)


def test_notification_with_two_objects_in_one_message(aws: Emulator) -> None:
    """One SQS message whose S3 notification lists two objects: two results sharing the
    messageId, which is reported once when they fail."""
    from versioned_msgs.testing import s3_event

    s3 = aws.client("s3")
    sqs = aws.client("sqs")
    s3.create_bucket(Bucket="two")
    url, arn = make_queue(sqs, "two-objects")
    a = put_stamped(s3, "two", "a", PRODUCER.encode(OrderV4(id="a", quantity=1)))
    b = put_stamped(s3, "two", "b", PRODUCER.encode(OrderV4(id="b", quantity=2)))
    records = (
        s3_event("two", "a", a["ETag"])["Records"] + s3_event("two", "b", b["ETag"])["Records"]
    )
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Records": records}))
    msgs = receive_all(sqs, url, 1)
    consumer, _ = make_consumer(s3=s3)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["retried", "retried"]
    assert [r.meta.key for r in report.records if r.meta] == ["a", "b"]
    assert {r.message_id for r in report.records} == {msgs[0]["MessageId"]}
    assert report.response == {"batchItemFailures": [{"itemIdentifier": msgs[0]["MessageId"]}]}


def test_s3_via_eventbridge_to_sqs(aws: Emulator) -> None:
    """S3 -> EventBridge ("Object Created") -> SQS: the object is read exactly; other S3
    detail-types (tags added) are skipped; the key is not URL-decoded."""
    s3 = aws.client("s3")
    sqs = aws.client("sqs")
    events = aws.client("events")
    s3.create_bucket(Bucket="eb-bucket")
    url, arn = make_queue(sqs, "eb-s3")
    events.put_rule(Name="s3", EventPattern=json.dumps({"source": ["aws.s3"]}))
    events.put_targets(Rule="s3", Targets=[{"Id": "q", "Arn": arn}])
    s3.put_bucket_notification_configuration(
        Bucket="eb-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    put_stamped(s3, "eb-bucket", "a+b c.json", PRODUCER.encode(OrderV1(id="via-eb")))
    msgs = drain(sqs, url)
    consumer, seen = make_consumer(s3=s3)
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    outcomes = [r.outcome for r in report.records]
    assert outcomes.count("upgraded") == 1
    assert set(outcomes) <= {"upgraded", "skipped"}
    assert seen.ids == ["via-eb"]
    assert seen.calls[0][1].key == "a+b c.json"
    assert report.response == {"batchItemFailures": []}


def test_large_payload_object_gone_is_rejected_not_skipped(aws: Emulator) -> None:
    """A pointer whose S3 object is missing is the message lost: rejected, reported."""
    sqs = aws.client("sqs")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="large2")
    url, arn = make_queue(sqs, "large-gone")
    pub = vm.Publisher(PRODUCER, sqs=sqs, s3=s3, large_payload_bucket="large2")
    pub.send(url, OrderV2(id="G" * 1_100_000, qty=1))
    for obj in s3.list_objects_v2(Bucket="large2")["Contents"]:
        s3.delete_object(Bucket="large2", Key=obj["Key"])
    msgs = receive_all(sqs, url, 1)
    consumer, seen = make_consumer(s3=s3, allowed_buckets=["large2"])
    report = consumer.process(lambda_sqs_event(msgs, arn), None)
    assert [r.outcome for r in report.records] == ["rejected"]
    assert isinstance(report.records[0].error, vm.StaleObjectError)
    assert report.response == {"batchItemFailures": [{"itemIdentifier": msgs[0]["MessageId"]}]}
    assert seen.calls == []


def test_park_keeps_ten_attributes_without_the_reason(aws: Emulator) -> None:
    """SQS allows 10 attributes: a message that has 10 is parked with them all, unchanged,
    and without vmsg-parked-reason (which would make 11)."""
    sqs = aws.client("sqs")
    url, arn = make_queue(sqs, "full")
    park_url, _ = make_queue(sqs, "full-park")
    enc = PRODUCER.encode(OrderV4(id="x", quantity=1))
    attrs: dict[str, Any] = {
        f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(8)
    }
    attrs.update(enc.stamp.to_message_attributes())
    assert len(attrs) == 10
    sqs.send_message(QueueUrl=url, MessageBody=enc.body.decode(), MessageAttributes=attrs)
    consumer, _ = make_consumer(on_newer="park", park_queue_url=park_url, sqs=sqs)
    report = consumer.process(lambda_sqs_event(receive_all(sqs, url, 1), arn), None)
    assert [r.outcome for r in report.records] == ["parked"]
    parked = receive_all(sqs, park_url, 1)[0]["MessageAttributes"]
    assert set(parked) == set(attrs)
