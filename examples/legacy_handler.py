"""SQS -> Lambda for a queue that still carries messages from a producer written before
versioned_msgs: those have no stamp, and their body is what order.created v1 became.
"""

from __future__ import annotations

import logging
from typing import Any

import versioned_msgs as vm
from orders import OrderCreated, registry

log = logging.getLogger(__name__)

consumer = vm.Consumer(
    registry,
    on_unversioned=1,  # no stamp: read the body as order.created v1, then upgrade it
)


@consumer.handler(OrderCreated)
def order_created(order: OrderCreated, meta: vm.Meta) -> None:
    log.info("order %s (v%d)", order.order_id, meta.version)


def lambda_handler(event: dict[str, Any], context: object) -> Any:
    return consumer.handle_event(event, context)
