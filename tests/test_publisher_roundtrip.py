"""What the Publisher writes through moto, shaped as Lambda delivers it, the Consumer reads."""

from __future__ import annotations

from typing import Any

from test_publisher import ORDER, OrderV1, OrderV2, _queue, _receive, make_registry

import versioned_msgs as vm
from versioned_msgs.testing import Emulator, lambda_kinesis_event, lambda_sqs_event


def _consumer(seen: list[tuple[Any, vm.Meta]], s3: Any = None) -> vm.Consumer:
    consumer = vm.Consumer(make_registry(), s3=s3, allowed_buckets=["large-bucket"])

    @consumer.handler(OrderV2)
    def _handle(order: OrderV2, meta: vm.Meta) -> None:
        seen.append((order, meta))

    return consumer


def test_large_payload_pointer_is_resolved_by_the_consumer(aws: Emulator) -> None:
    """An offloaded message (extended-client pointer) reaches the handler whole."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="large-bucket")
    sqs, url, arn = _queue(aws)
    big = OrderV2(order_id="x" * 1_100_000, total_cents=5)
    pub = vm.Publisher(make_registry(), large_payload_bucket="large-bucket", producer="p:1")
    pub.send(url, big)
    seen: list[tuple[Any, vm.Meta]] = []
    report = _consumer(seen, s3).process(lambda_sqs_event(_receive(sqs, url), arn), None)
    assert [r.outcome for r in report.records] == ["handled"]
    assert seen[0][0] == big
    assert seen[0][1].producer == "p:1"


def test_pinned_v1_and_current_v2_both_reach_the_v2_handler(aws: Emulator) -> None:
    """A pinned producer writes v1; the consumer upgrades it; v2 goes through as it is."""
    sqs, url, arn = _queue(aws)
    vm.Publisher(make_registry(), pins={"order.created": 1}).send(url, ORDER)
    vm.Publisher(make_registry()).send(url, ORDER, attributes={"tenant": "acme"})
    vm.Publisher(make_registry()).send(url, OrderV1(order_id="old", total=3), embed=True)
    seen: list[tuple[Any, vm.Meta]] = []
    report = _consumer(seen).process(lambda_sqs_event(_receive(sqs, url, 3), arn), None)
    assert sorted(r.outcome for r in report.records) == ["handled", "upgraded", "upgraded"]
    got = sorted((o.order_id, o.total_cents, m.upgraded_from or 0) for o, m in seen)
    # the pinned v1 lost the cents (v1 stores whole units); the embedded v1 was upgraded
    assert got == [("o-1", 1200, 1), ("o-1", 1250, 0), ("old", 300, 1)]


def test_kinesis_envelope_is_read_by_the_consumer(aws: Emulator) -> None:
    """Records put with put_records decode from Lambda's Kinesis event shape."""
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="s")["StreamDescription"]["StreamARN"]
    vm.Publisher(make_registry()).put_records("s", [ORDER, ORDER], partition_key="pk")
    it = kinesis.get_shard_iterator(
        StreamName="s", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    event = lambda_kinesis_event(kinesis.get_records(ShardIterator=it), arn)
    seen: list[tuple[Any, vm.Meta]] = []
    report = _consumer(seen).process(event, None)
    assert [r.outcome for r in report.records] == ["handled", "handled"]
    assert [order for order, _ in seen] == [ORDER, ORDER]
    assert report.response == {"batchItemFailures": []}
