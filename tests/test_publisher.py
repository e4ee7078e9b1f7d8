"""Publisher against a moto server: stamps on the raw wire of every carrier."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest

import versioned_msgs as vm
from versioned_msgs.testing import Emulator


class OrderV1(msgspec.Struct):
    order_id: str
    total: int


class OrderV2(msgspec.Struct):
    order_id: str
    total_cents: int
    currency: str = "EUR"


def make_registry() -> vm.Registry:
    reg = vm.Registry()
    reg.message("order.created", version=1)(OrderV1)
    reg.message("order.created", version=2)(OrderV2)

    @reg.upgrader("order.created", from_version=1)
    def _up(d: dict[str, Any]) -> dict[str, Any]:
        return {"order_id": d["order_id"], "total_cents": d["total"] * 100}

    @reg.downgrader("order.created", from_version=2)
    def _down(d: dict[str, Any]) -> dict[str, Any]:
        return {"order_id": d["order_id"], "total": d["total_cents"] // 100}

    return reg


ORDER = OrderV2(order_id="o-1", total_cents=1250)


class Calls:
    """Counts the API calls a real boto3 client makes (a botocore event hook, not a mock)."""

    def __init__(self, *clients: Any) -> None:
        self.names: list[str] = []
        self.params: list[dict[str, Any]] = []
        for client in clients:
            client.meta.events.register("before-call", self._call)
            client.meta.events.register("before-parameter-build", self._params)

    def _call(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def _params(self, params: dict[str, Any], **_: Any) -> None:
        self.params.append(dict(params))


def _queue(aws: Emulator, name: str = "q", **attrs: str) -> tuple[Any, str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return sqs, url, arn


def _receive(sqs: Any, url: str, n: int = 1) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    for _ in range(5):
        resp = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        got.extend(resp.get("Messages", []))
        if len(got) >= n:
            break
    return got


def test_send_writes_stamp_attributes_and_json_body(aws: Emulator) -> None:
    """send() puts the vmsg-type String and vmsg-version Number attributes beside the body."""
    sqs, url, _ = _queue(aws)
    pub = vm.Publisher(make_registry(), producer="orders-api:7")
    message_id = pub.send(url, ORDER, attributes={"tenant": "acme", "priority": 3})
    [m] = _receive(sqs, url)
    assert m["MessageId"] == message_id
    assert json.loads(m["Body"]) == {"order_id": "o-1", "total_cents": 1250, "currency": "EUR"}
    assert m["MessageAttributes"] == {
        "vmsg-type": {"DataType": "String", "StringValue": "order.created"},
        "vmsg-version": {"DataType": "Number", "StringValue": "2"},
        "vmsg-producer": {"DataType": "String", "StringValue": "orders-api:7"},
        "tenant": {"DataType": "String", "StringValue": "acme"},
        "priority": {"DataType": "Number", "StringValue": "3"},
    }
    msg, meta = make_registry().decode(
        m["Body"].encode(), vm.Stamp.from_message_attributes(m["MessageAttributes"])
    )
    assert msg == ORDER
    assert meta.producer == "orders-api:7"


def test_producer_defaults_to_the_lambda_function_name_and_version(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside Lambda, the producer is AWS_LAMBDA_FUNCTION_NAME:AWS_LAMBDA_FUNCTION_VERSION."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-api")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "42")
    sqs, url, _ = _queue(aws)
    pub = vm.Publisher(make_registry())
    assert pub.producer == "orders-api:42"
    pub.send(url, ORDER)
    [m] = _receive(sqs, url)
    assert m["MessageAttributes"]["vmsg-producer"]["StringValue"] == "orders-api:42"


def test_send_embed_wraps_the_body_and_still_sends_attributes(aws: Emulator) -> None:
    """embed=True writes the {"vmsg": ..., "data": ...} envelope; attributes stay."""
    sqs, url, _ = _queue(aws)
    vm.Publisher(make_registry()).send(url, ORDER, embed=True)
    [m] = _receive(sqs, url)
    assert json.loads(m["Body"]) == {
        "vmsg": {"type": "order.created", "version": 2},
        "data": {"order_id": "o-1", "total_cents": 1250, "currency": "EUR"},
    }
    assert m["MessageAttributes"]["vmsg-version"]["StringValue"] == "2"


def _topic_to_queue(aws: Emulator, *, raw: bool, fifo: bool = False) -> tuple[Any, str, str]:
    sns = aws.client("sns")
    suffix = ".fifo" if fifo else ""
    topic_attrs = {"FifoTopic": "true", "ContentBasedDeduplication": "true"} if fifo else {}
    topic = sns.create_topic(Name="orders" + suffix, Attributes=topic_attrs)["TopicArn"]
    queue_attrs = {"FifoQueue": "true"} if fifo else {}
    sqs, url, arn = _queue(aws, "orders-q" + suffix, **queue_attrs)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true" if raw else "false"},
    )
    return sqs, url, topic


def test_publish_raw_delivery_carries_stamp_as_sqs_attributes(aws: Emulator) -> None:
    """SNS raw delivery to SQS: the body is ours and the stamp arrives as SQS attributes."""
    sqs, url, topic = _topic_to_queue(aws, raw=True)
    vm.Publisher(make_registry()).publish(topic, ORDER, attributes={"tenant": "acme"})
    [m] = _receive(sqs, url)
    assert json.loads(m["Body"])["order_id"] == "o-1"
    attrs = m["MessageAttributes"]
    assert attrs["vmsg-type"] == {"DataType": "String", "StringValue": "order.created"}
    assert attrs["vmsg-version"] == {"DataType": "Number", "StringValue": "2"}
    assert attrs["tenant"] == {"DataType": "String", "StringValue": "acme"}


def test_publish_enveloped_delivery_carries_type_value_attributes(aws: Emulator) -> None:
    """Without raw delivery, the SQS body is SNS's JSON with Type/Value MessageAttributes."""
    sqs, url, topic = _topic_to_queue(aws, raw=False)
    vm.Publisher(make_registry()).publish(topic, ORDER, subject="Order created")
    [m] = _receive(sqs, url)
    envelope = json.loads(m["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["Subject"] == "Order created"
    assert json.loads(envelope["Message"])["total_cents"] == 1250
    assert envelope["MessageAttributes"]["vmsg-type"] == {
        "Type": "String",
        "Value": "order.created",
    }
    assert envelope["MessageAttributes"]["vmsg-version"] == {"Type": "Number", "Value": "2"}
    stamp = vm.Stamp.from_message_attributes(envelope["MessageAttributes"])
    assert stamp == vm.Stamp(type="order.created", version=2)


def test_publish_fifo_topic_to_fifo_queue_keeps_group_and_stamp(aws: Emulator) -> None:
    """A FIFO topic delivers to a FIFO queue with the message group id and the stamp."""
    sqs, url, topic = _topic_to_queue(aws, raw=True, fifo=True)
    pub = vm.Publisher(make_registry())
    pub.publish(topic, ORDER, group_id="customer-9", dedup_id="o-1")
    [m] = _receive(sqs, url)
    assert m["Attributes"]["MessageGroupId"] == "customer-9"
    assert m["MessageAttributes"]["vmsg-type"]["StringValue"] == "order.created"
    assert json.loads(m["Body"])["order_id"] == "o-1"


def test_put_object_stamps_metadata_and_content_type(aws: Emulator) -> None:
    """S3 objects carry x-amz-meta-vmsg-* metadata, ContentType, and the user's metadata."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="orders-bucket")
    pub = vm.Publisher(make_registry(), producer="orders-api:7")
    resp = pub.put_object("orders-bucket", "orders/o-1.json", ORDER, metadata={"tenant": "acme"})
    assert resp["ETag"]
    head = s3.head_object(Bucket="orders-bucket", Key="orders/o-1.json")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {
        "vmsg-type": "order.created",
        "vmsg-version": "2",
        "vmsg-producer": "orders-api:7",
        "tenant": "acme",
    }
    body = s3.get_object(Bucket="orders-bucket", Key="orders/o-1.json")["Body"].read()
    stamp = vm.Stamp.from_s3_metadata(head["Metadata"], content_type=head["ContentType"])
    assert make_registry().decode(body, stamp)[0] == ORDER


def test_put_object_embed_writes_the_envelope(aws: Emulator) -> None:
    """embed=True on S3 stores the envelope (for pipelines that lose metadata)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="orders-bucket")
    vm.Publisher(make_registry()).put_object("orders-bucket", "k", ORDER, embed=True)
    body = s3.get_object(Bucket="orders-bucket", Key="k")["Body"].read()
    assert json.loads(body)["vmsg"] == {"type": "order.created", "version": 2}
    assert make_registry().decode(body)[0] == ORDER


def test_put_record_writes_the_embedded_envelope(aws: Emulator) -> None:
    """Kinesis records are always the embedded envelope, with the given partition key."""
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    pub = vm.Publisher(make_registry(), producer="p:1")
    resp = pub.put_record("s", ORDER, partition_key="o-1")
    assert resp["SequenceNumber"]
    shard = kinesis.describe_stream(StreamName="s")["StreamDescription"]["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(
        StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    [rec] = kinesis.get_records(ShardIterator=it)["Records"]
    assert rec["PartitionKey"] == "o-1"
    assert json.loads(rec["Data"]) == {
        "vmsg": {"type": "order.created", "version": 2, "producer": "p:1"},
        "data": {"order_id": "o-1", "total_cents": 1250, "currency": "EUR"},
    }


def test_put_events_routes_on_detail_type_to_sqs(aws: Emulator) -> None:
    """EventBridge entries: DetailType = message type, Detail = envelope; a rule routes them."""
    events = aws.client("events")
    sqs, url, arn = _queue(aws)
    events.put_rule(Name="orders", EventPattern=json.dumps({"detail-type": ["order.created"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": arn}])
    result = vm.Publisher(make_registry()).put_events([ORDER], source="orders-api")
    assert result.ok
    assert len(result.succeeded) == 1
    [m] = _receive(sqs, url)
    event = json.loads(m["Body"])
    assert event["detail-type"] == "order.created"
    assert event["source"] == "orders-api"
    assert event["detail"] == {
        "vmsg": {"type": "order.created", "version": 2},
        "data": {"order_id": "o-1", "total_cents": 1250, "currency": "EUR"},
    }


def test_pins_write_the_older_version_through_downgraders(aws: Emulator) -> None:
    """pins={"order.created": 1}: a v2 message goes out as v1, stamped v1."""
    sqs, url, _ = _queue(aws)
    pub = vm.Publisher(make_registry(), pins={"order.created": 1})
    pub.send(url, ORDER)
    [m] = _receive(sqs, url)
    assert m["MessageAttributes"]["vmsg-version"]["StringValue"] == "1"
    assert json.loads(m["Body"]) == {"order_id": "o-1", "total": 12}


def test_pins_come_from_the_environment(aws: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """VERSIONED_MSGS_PINS pins types when no pins argument is given."""
    monkeypatch.setenv("VERSIONED_MSGS_PINS", "order.created=1")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="orders-bucket")
    vm.Publisher(make_registry()).put_object("orders-bucket", "k", ORDER)
    assert s3.head_object(Bucket="orders-bucket", Key="k")["Metadata"]["vmsg-version"] == "1"


def test_kinesis_data_is_bytes_in_base64_on_the_wire(aws: Emulator) -> None:
    """Kinesis Data is sent as bytes: the JSON API carries it base64-encoded."""
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    sent: list[dict[str, Any]] = []
    kinesis.meta.events.register(
        "before-call.kinesis.PutRecord", lambda params, **_: sent.append(params["body"])
    )
    vm.Publisher(make_registry(), kinesis=kinesis).put_record("s", ORDER, partition_key="k")
    wire = json.loads(sent[0])
    assert json.loads(base64.b64decode(wire["Data"]))["vmsg"]["type"] == "order.created"


def test_put_events_takes_one_message_too(aws: Emulator) -> None:
    """put_events(msg, ...) with a single model instance sends one entry."""
    events = aws.client("events")
    calls = Calls(events)
    result = vm.Publisher(make_registry(), events=events).put_events(ORDER, source="app")
    assert calls.names == ["PutEvents"]
    assert [s.index for s in result.succeeded] == [0]


def test_put_object_passes_other_s3_parameters_through(aws: Emulator) -> None:
    """Extra keyword arguments reach PutObject; the ones the publisher sets are refused."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="orders-bucket")
    pub = vm.Publisher(make_registry(), s3=s3)
    pub.put_object("orders-bucket", "k", ORDER, CacheControl="no-cache")
    assert s3.head_object(Bucket="orders-bucket", Key="k")["CacheControl"] == "no-cache"
    with pytest.raises(TypeError, match="ContentType, Metadata are set by the publisher"):
        pub.put_object("orders-bucket", "k", ORDER, Metadata={}, ContentType="x")


def test_an_encoded_value_is_sent_as_it_is(aws: Emulator) -> None:
    """A ready vm.Encoded (e.g. from another registry) keeps its own stamp."""
    sqs, url, _ = _queue(aws)
    enc = vm.Encoded(b'{"order_id":"o-9","total":1}', vm.Stamp(type="order.created", version=1))
    vm.Publisher(make_registry(), pins={"order.created": 1}).send(url, enc)
    [m] = _receive(sqs, url)
    assert m["Body"] == '{"order_id":"o-9","total":1}'
    assert m["MessageAttributes"]["vmsg-version"]["StringValue"] == "1"


def test_bad_publisher_options_are_refused() -> None:
    """Retry options and the producer are checked when the publisher is built."""
    with pytest.raises(ValueError, match="max_attempts"):
        vm.Publisher(make_registry(), max_attempts=0)
    with pytest.raises(ValueError, match="backoff"):
        vm.Publisher(make_registry(), backoff=-1)
    with pytest.raises(vm.StampError, match="producer"):
        vm.Publisher(make_registry(), producer="bad\nproducer")


def test_unknown_messages_are_refused_before_any_request() -> None:
    """An instance of an unregistered class raises UnknownTypeError naming the class."""

    class Stray(msgspec.Struct):
        x: int

    with pytest.raises(vm.UnknownTypeError, match="Stray"):
        vm.Publisher(make_registry()).send("https://q", Stray(1))
