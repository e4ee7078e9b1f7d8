"""Publishing stamped `order.created` messages to each transport (docs/guides/publishing.md).

Each function is one how-to. They share the publisher built once per cold start; boto3
clients are made on first use, so a function that only publishes to SNS never loads the
others.
"""

from __future__ import annotations

import logging
from typing import Any

import versioned_msgs as vm
from orders import Money, OrderCreated, OrderCreatedV2, registry

log = logging.getLogger(__name__)

# --8<-- [start:publisher]
# Once per cold start. Inside Lambda the producer stamp defaults to "function-name:version".
publisher = vm.Publisher(registry)
# --8<-- [end:publisher]


def an_order(order_id: str = "o-1", cents: int = 1250) -> OrderCreated:
    return OrderCreated(order_id=order_id, total=Money(cents=cents, currency="EUR"))


# --8<-- [start:sqs]
def send_order(queue_url: str, order: OrderCreated) -> str:
    # Your own attributes travel beside the stamp: str -> String, int/float -> Number.
    return publisher.send(queue_url, order, attributes={"tenant": "acme", "priority": 3})


# --8<-- [end:sqs]


# --8<-- [start:sqs-batch]
def send_orders(queue_url: str, orders: list[OrderCreated]) -> vm.BatchResult:
    result = publisher.send_batch(queue_url, orders)  # 10 per call, 1 MiB per call
    for failure in result.failed:  # what still failed after the retries: never silent
        log.error("order %d not sent: %s %s", failure.index, failure.code, failure.message)
    return result


# --8<-- [end:sqs-batch]


# --8<-- [start:fifo]
def send_orders_in_order(queue_url: str, orders: list[OrderCreated]) -> vm.BatchResult:
    # FIFO targets need a group id; both ids may be functions of the message.
    return publisher.send_batch(
        queue_url,
        orders,
        group_id=lambda order: order.order_id,
        dedup_id=lambda order: f"{order.order_id}-{order.total.cents}",
    )


# --8<-- [end:fifo]


# --8<-- [start:sns]
def publish_order(topic_arn: str, order: OrderCreated) -> str:
    return publisher.publish(
        topic_arn, order, subject="Order created", attributes={"tenant": "acme"}
    )


# --8<-- [end:sns]


# --8<-- [start:s3]
def store_order(bucket: str, order: OrderCreated) -> dict[str, Any]:
    # x-amz-meta-vmsg-* metadata and ContentType come with it; add your own metadata.
    return publisher.put_object(
        bucket, f"orders/{order.order_id}.json", order, metadata={"tenant": "acme"}
    )


# --8<-- [end:s3]


# --8<-- [start:kinesis]
def stream_orders(stream_name: str, orders: list[OrderCreated]) -> vm.BatchResult:
    # Records carry the embedded envelope; one partition key per order keeps its order.
    return publisher.put_records(stream_name, orders, partition_key=lambda o: o.order_id)


# --8<-- [end:kinesis]


# --8<-- [start:eventbridge]
def emit_orders(orders: list[OrderCreated], bus_name: str | None = None) -> vm.BatchResult:
    # DetailType is the message type, so rules can match {"detail-type": ["order.created"]}.
    return publisher.put_events(orders, source="orders-api", bus_name=bus_name)


# --8<-- [end:eventbridge]


# --8<-- [start:embed]
def send_for_firehose(queue_url: str, order: OrderCreated) -> str:
    # For pipelines that drop attributes: the stamp is also written into the body.
    return publisher.send(queue_url, order, embed=True)


# --8<-- [end:embed]


# --8<-- [start:pins]
def pinned_publisher() -> vm.Publisher:
    # Some readers only know v2: keep writing v2 (through the v3 -> v2 downgrader). The
    # same pin from the environment: VERSIONED_MSGS_PINS="order.created=2".
    return vm.Publisher(registry, pins={"order.created": 2})


# --8<-- [end:pins]


# --8<-- [start:large]
def large_payload_publisher(bucket: str) -> vm.Publisher:
    # Over the SQS/SNS limit, the body goes to s3://bucket/vmsg-large/... and the message
    # carries the AWS extended-client pointer (readable by AWS's extended clients too).
    return vm.Publisher(registry, large_payload_bucket=bucket)


# --8<-- [end:large]


def an_old_order(order_id: str = "o-0") -> OrderCreatedV2:
    """Still written by code that has not moved to v3: stamped v2."""
    return OrderCreatedV2(order_id=order_id, amount=500)
