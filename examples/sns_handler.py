"""SNS -> Lambda: SNS invokes the function asynchronously, one message per event.

There is no partial-batch response for SNS: when a record is not handled, `handle_event`
raises after processing the others, so Lambda's retries and on-failure destination apply.
"""

from __future__ import annotations

import logging
from typing import Any

import versioned_msgs as vm
from orders import OrderCreated, registry

log = logging.getLogger(__name__)

consumer = vm.Consumer(registry, on_newer="retry")


@consumer.handler(OrderCreated)
def order_created(order: OrderCreated, meta: vm.Meta) -> None:
    # meta.attributes holds the producer's own message attributes, without the vmsg-* ones.
    tenant = meta.attributes.get("tenant", "unknown")
    log.info("order %s for tenant %s", order.order_id, tenant)


def lambda_handler(event: dict[str, Any], context: object) -> Any:
    return consumer.handle_event(event, context)
