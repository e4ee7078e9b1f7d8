"""SQS -> Lambda: handle `order.created` at any version, report failures per message.

The event source mapping must enable ReportBatchItemFailures (see template.yaml): the
returned `batchItemFailures` then puts back only the messages that were not handled.
"""

from __future__ import annotations

import logging
from typing import Any

import versioned_msgs as vm
from orders import OrderCreated, registry

log = logging.getLogger(__name__)

consumer = vm.Consumer(
    registry,
    on_newer="retry",  # a newer version we cannot read: retry until this reader is deployed
    on_unknown="reject",  # another message type on this queue is a wiring mistake
)


@consumer.handler(OrderCreated)  # v1 and v2 payloads are upgraded to v3 before this runs
def order_created(order: OrderCreated, meta: vm.Meta) -> None:
    log.info(
        "order %s: %d %s (written as v%d)",
        order.order_id,
        order.total.cents,
        order.total.currency,
        meta.version,
    )


def lambda_handler(event: dict[str, Any], context: object) -> Any:
    return consumer.handle_event(event, context)
