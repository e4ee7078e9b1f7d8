"""SQS helpers of the reliability tests: queues on the moto server, receives, and one turn of
Lambda's SQS poller."""

from __future__ import annotations

import json
from typing import Any

from aws_support import make_queue as make_queue  # (re-exported for the reliability tests)

import versioned_msgs as vm
from versioned_msgs.testing import lambda_sqs_event


def receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Up to 10 messages with every attribute, invisible for 30 s."""
    msgs: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
        VisibilityTimeout=30,
    ).get("Messages", [])
    return msgs


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every visible message (received, not deleted)."""
    out: list[dict[str, Any]] = []
    while msgs := receive(sqs, url):
        out.extend(msgs)
    return out


def lambda_turn(
    sqs: Any, url: str, arn: str, consumer: vm.Consumer, context: Any = None
) -> vm.Report | None:
    """What Lambda's SQS poller does once: receive, invoke (with ``context``), delete the
    successes, and make the failures visible again (as the visibility timeout would, without
    the wait). An invocation that raises (or is killed) deletes nothing: the whole batch is
    made visible again and the exception propagates."""
    msgs = receive(sqs, url)
    if not msgs:
        return None
    try:
        report = consumer.process(lambda_sqs_event(msgs, arn), context)
    except BaseException:
        for m in msgs:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
        raise
    failed = {i["itemIdentifier"] for i in report.response["batchItemFailures"]}  # type: ignore[index]
    for m in msgs:
        if m["MessageId"] in failed:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return report


def uid(body: str) -> str:
    """The ``id`` field of a JSON message body."""
    return str(json.loads(body)["id"])


def drain(sqs: Any, url: str) -> list[str]:
    """The ids of every message in the queue, in the order received; each deleted."""
    out: list[str] = []
    while batch := receive(sqs, url):
        for m in batch:
            out.append(uid(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out
