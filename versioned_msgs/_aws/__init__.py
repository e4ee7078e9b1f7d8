"""The AWS runtime: Lambda events into records, the consumer, the publisher, limits, batch
sends, S3 reads, backfills and metrics. boto3 is imported only when a client is made.

Depends on :mod:`versioned_msgs._core`; never on the CLI or the testing package.
"""
