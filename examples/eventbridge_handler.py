"""EventBridge -> Lambda with the `vm.consume` shorthand: the function is the handler.

EventBridge events carry the stamp in an embedded envelope in `detail`; the publisher also
sets `DetailType` to the message type, so a rule can match `{"detail-type": ["order.created"]}`.
"""

from __future__ import annotations

import logging

import versioned_msgs as vm
from orders import OrderCreated, registry

log = logging.getLogger(__name__)


@vm.consume(registry, OrderCreated)
def lambda_handler(order: OrderCreated, meta: vm.Meta) -> None:
    log.info("order %s from %s", order.order_id, meta.producer)
