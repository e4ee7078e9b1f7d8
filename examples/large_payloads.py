"""Claim check for payloads over the SNS/SQS limit: the body goes to S3, the message points to it.

Environment: LARGE_PAYLOAD_BUCKET. The pointer is the one AWS's extended client libraries use
(`software.amazon.payloadoffloading.PayloadS3Pointer`), so Java and Python services using those
libraries can read these messages, and this consumer can read theirs.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import msgspec

import versioned_msgs as vm

log = logging.getLogger(__name__)

registry = vm.Registry()


@registry.message("catalog.published", version=1)
class CatalogPublished(msgspec.Struct, frozen=True):
    catalog_id: str
    items: list[str]


# The producer side: only payloads over the limit are offloaded; small ones travel inline.
publisher = vm.Publisher(registry, large_payload_bucket=os.environ["LARGE_PAYLOAD_BUCKET"])


def publish(topic_arn: str, catalog: CatalogPublished) -> str:
    return publisher.publish(topic_arn, catalog)


# The consumer side: pointers are followed (s3:GetObject on the bucket) before decoding,
# only into the buckets listed: a pointer naming any other bucket is rejected unread.
consumer = vm.Consumer(registry, allowed_buckets=[os.environ["LARGE_PAYLOAD_BUCKET"]])


@consumer.handler(CatalogPublished)
def catalog_published(catalog: CatalogPublished, meta: vm.Meta) -> None:
    log.info("catalog %s with %d items", catalog.catalog_id, len(catalog.items))


def lambda_handler(event: dict[str, Any], context: object) -> Any:
    return consumer.handle_event(event, context)
