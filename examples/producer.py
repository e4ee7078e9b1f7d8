"""A Lambda function that publishes `order.created` to an SNS topic.

Environment: ORDERS_TOPIC_ARN. Set VERSIONED_MSGS_PINS="order.created=2" to keep writing v2
while some readers cannot read v3 yet; remove it to write the current version.
"""

from __future__ import annotations

import os
from typing import Any

import versioned_msgs as vm
from orders import Money, OrderCreated, registry

# Built once per cold start; boto3 clients are made on first use.
publisher = vm.Publisher(registry)


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, str]:
    order = OrderCreated(
        order_id=event["order_id"],
        total=Money(cents=event["cents"], currency=event["currency"]),
    )
    message_id = publisher.publish(
        os.environ["ORDERS_TOPIC_ARN"],
        order,
        attributes={"tenant": event["tenant"]},  # your own attributes travel beside the stamp
    )
    return {"message_id": message_id}
