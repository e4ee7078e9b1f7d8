"""examples/publishing.py (the how-to of docs/guides/publishing.md) runs against moto."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import versioned_msgs as vm
from versioned_msgs.testing import Emulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def ex(aws: Emulator) -> ModuleType:
    """The example module with fresh lazily-made clients pointed at the emulator."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    module = importlib.import_module("publishing")
    module.publisher = vm.Publisher(module.registry)
    return module


def _queue(aws: Emulator, name: str = "q", **attrs: str) -> tuple[Any, str]:
    sqs = aws.client("sqs")
    return sqs, sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]


def _all(sqs: Any, url: str) -> list[dict[str, Any]]:
    resp = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    )
    return list(resp.get("Messages", []))


def test_sqs_how_tos(aws: Emulator, ex: ModuleType) -> None:
    """send, send_batch and embed=True write stamped v3 orders to a queue."""
    sqs, url = _queue(aws)
    ex.send_order(url, ex.an_order())
    assert ex.send_orders(url, [ex.an_order(f"o-{i}") for i in range(3)]).ok
    ex.send_for_firehose(url, ex.an_order())
    got = _all(sqs, url)
    assert len(got) == 5
    assert {m["MessageAttributes"]["vmsg-version"]["StringValue"] for m in got} == {"3"}
    assert sum(json.loads(m["Body"]).get("vmsg") is not None for m in got) == 1


def test_fifo_how_to(aws: Emulator, ex: ModuleType) -> None:
    """Group ids come from the order id."""
    sqs, url = _queue(aws, "orders.fifo", FifoQueue="true")
    assert ex.send_orders_in_order(url, [ex.an_order("a"), ex.an_order("b")]).ok
    assert {m["Attributes"]["MessageGroupId"] for m in _all(sqs, url)} == {"a", "b"}


def test_sns_s3_kinesis_and_eventbridge_how_tos(aws: Emulator, ex: ModuleType) -> None:
    """Each remaining transport accepts the example's call."""
    topic = aws.client("sns").create_topic(Name="orders")["TopicArn"]
    assert ex.publish_order(topic, ex.an_order())
    aws.client("s3").create_bucket(Bucket="orders-bucket")
    ex.store_order("orders-bucket", ex.an_order())
    head = aws.client("s3").head_object(Bucket="orders-bucket", Key="orders/o-1.json")
    assert head["Metadata"]["vmsg-version"] == "3"
    aws.client("kinesis").create_stream(StreamName="orders", ShardCount=1)
    assert ex.stream_orders("orders", [ex.an_order(), ex.an_old_order()]).ok
    assert len(ex.emit_orders([ex.an_order()]).succeeded) == 1


def test_pins_and_large_payload_how_tos(aws: Emulator, ex: ModuleType) -> None:
    """The pinned publisher writes v2; the large-payload one offloads a huge order."""
    sqs, url = _queue(aws)
    ex.pinned_publisher().send(url, ex.an_order())
    [m] = _all(sqs, url)
    assert m["MessageAttributes"]["vmsg-version"]["StringValue"] == "2"
    assert json.loads(m["Body"]) == {"order_id": "o-1", "amount": 1250, "currency": "EUR"}
    aws.client("s3").create_bucket(Bucket="large-bucket")
    ex.large_payload_publisher("large-bucket").send(url, ex.an_order("x" * 1_100_000))
    [big] = _all(sqs, url)
    assert json.loads(big["Body"])[0] == "software.amazon.payloadoffloading.PayloadS3Pointer"
