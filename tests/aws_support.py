"""Helpers the moto-server tests share: queues, SNS subscriptions to them, and receives.

Every test folder can import this module (``tests/`` is on ``sys.path`` through its
``conftest.py``).
"""

from __future__ import annotations

from typing import Any


def make_queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    """A new queue's URL and ARN."""
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def subscribe_queue(
    sns: Any, sqs: Any, topic_name: str, queue_name: str, *, raw: bool = False
) -> tuple[str, str, str, str]:
    """A new topic with one new SQS queue subscribed, raw delivery on or off: (topic arn,
    subscription arn, queue url, queue arn)."""
    topic = sns.create_topic(Name=topic_name)["TopicArn"]
    url, arn = make_queue(sqs, queue_name)
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true" if raw else "false"},
    )["SubscriptionArn"]
    return topic, sub, url, arn


def receive_exactly(sqs: Any, url: str, count: int) -> list[dict[str, Any]]:
    """Exactly ``count`` messages from the queue, with every attribute (fails on fewer, and
    on more)."""
    got: list[dict[str, Any]] = []
    for _ in range(5):
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        got.extend(batch)
        if not batch and len(got) >= count:  # an empty receive after enough: nothing extra
            break
    assert len(got) == count, f"expected {count} messages on {url}, got {len(got)}"
    return got


def read_shard(kinesis: Any, stream: str) -> tuple[list[dict[str, Any]], str, str]:
    """Every record of a one-shard stream, from its start: (records, stream ARN, shard id)."""
    desc = kinesis.describe_stream(StreamName=stream)["StreamDescription"]
    shard = desc["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return kinesis.get_records(ShardIterator=iterator)["Records"], desc["StreamARN"], shard
