"""One producer, two queues: one at SQS's 1 MiB, one whose readers are still at 256 KiB.

Environment: LARGE_PAYLOAD_BUCKET, CATALOG_QUEUE_URL (MaximumMessageSize 1,048,576) and
LEGACY_CATALOG_QUEUE_URL (MaximumMessageSize 262,144). The readers of both queues follow
pointers into the bucket: s3:GetObject on it, and it in their `allowed_buckets`.
"""

from __future__ import annotations

import os

import versioned_msgs as vm
from large_payloads import CatalogPublished, publisher

# --8<-- [start:shared]
# The smaller queue's MaximumMessageSize. SQS counts body and attributes; so does
# max_message_bytes, which is also the size above which a message goes through S3.
LEGACY_QUEUE_BYTES = 262_144


def send_catalog(catalog: CatalogPublished) -> None:
    # The 1 MiB queue: inline up to 1 MiB, through S3 above.
    publisher.send(os.environ["CATALOG_QUEUE_URL"], catalog)
    # The 256 KiB queue: through S3 above 256 KiB, so its readers never see a message
    # their queue would refuse.
    publisher.send(
        os.environ["LEGACY_CATALOG_QUEUE_URL"], catalog, max_message_bytes=LEGACY_QUEUE_BYTES
    )


def send_catalogs_alike(catalogs: list[CatalogPublished]) -> list[vm.BatchResult]:
    # One threshold for every queue: each catalog has the same form (inline, or a pointer
    # to S3) in both queues. send_batch takes max_message_bytes too.
    urls = [os.environ["CATALOG_QUEUE_URL"], os.environ["LEGACY_CATALOG_QUEUE_URL"]]
    return [
        publisher.send_batch(url, catalogs, max_message_bytes=LEGACY_QUEUE_BYTES) for url in urls
    ]


# --8<-- [end:shared]
