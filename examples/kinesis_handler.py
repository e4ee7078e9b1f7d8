"""Kinesis -> Lambda: records carry the stamp in an embedded envelope.

Order matters within a shard: after the first record that is not handled, the consumer
reports it and every later record of the shard as failures, so Lambda retries from there.
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
    log.info("order %s (v%d)", order.order_id, meta.version)


def lambda_handler(event: dict[str, Any], context: object) -> Any:
    return consumer.handle_event(event, context)
