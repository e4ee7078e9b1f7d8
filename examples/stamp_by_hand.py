"""Stamping from existing boto3 code, one call site at a time, without the Publisher.

`registry.encode` gives the body and its stamp; `stamp.to_message_attributes()` gives the
`vmsg-*` attributes in boto3's shape. Your own attributes go beside them. The Publisher does
the same and also checks AWS limits before sending; here that is up to you.
"""

from __future__ import annotations

from typing import Any

from orders import OrderCreatedV1, registry


def send_order(sqs: Any, queue_url: str, order: OrderCreatedV1, *, tenant: str) -> str:
    encoded = registry.encode(order)
    response = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=encoded.body.decode(),
        MessageAttributes={
            **encoded.stamp.to_message_attributes(),
            "tenant": {"DataType": "String", "StringValue": tenant},
        },
    )
    return str(response["MessageId"])
