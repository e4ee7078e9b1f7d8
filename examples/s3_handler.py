"""S3 -> Lambda: an object was written; read it at the version stamped in its metadata.

S3 notifications carry no metadata, so the consumer gets the object itself: the exact
version that raised the event (by ETag or versionId). A newer overwrite is reported as
superseded and not processed twice.
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
    log.info("s3://%s/%s holds order %s", meta.bucket, meta.key, order.order_id)


def lambda_handler(event: dict[str, Any], context: object) -> Any:
    return consumer.handle_event(event, context)
