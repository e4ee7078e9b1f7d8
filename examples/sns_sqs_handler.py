"""SNS -> SQS -> Lambda, the pipeline in template.yaml.

The consumer recognises SNS envelopes inside SQS bodies (and raw delivery) on its own. The
subscription's filter policy delivers only v2 and later, which this function upgrades to v3.
Messages of a type this function does not know are parked on a side queue with the reason,
instead of being retried until they reach the dead-letter queue.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import versioned_msgs as vm
from orders import OrderCreated, registry

log = logging.getLogger(__name__)

consumer = vm.Consumer(
    registry,
    on_newer="retry",
    on_unknown="park",
    park_queue_url=os.environ["PARK_QUEUE_URL"],
)


@consumer.handler(OrderCreated)
def order_created(order: OrderCreated, meta: vm.Meta) -> None:
    log.info("order %s (v%d, upgraded from %s)", order.order_id, meta.version, meta.upgraded_from)


def lambda_handler(event: dict[str, Any], context: object) -> Any:
    return consumer.handle_event(event, context)
