"""What docs/guides/large-payloads.md promises, on the moto server: a producer sharing its
messages with a queue still at 256 KiB, and SNS filter scopes with offloaded messages."""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.exceptions
import pytest

from versioned_msgs.testing import Emulator, lambda_sqs_event

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
if str(EXAMPLES) not in sys.path:  # the examples import each other as one Lambda bundle does
    sys.path.insert(0, str(EXAMPLES))

BUCKET = "large-payloads"
POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"


def _receive(aws: Emulator, url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    got: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
        WaitTimeSeconds=0,
    ).get("Messages", []):
        got.extend(batch)
    return got


def _queue(aws: Emulator, name: str, **attributes: str) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def _is_pointer(body: str) -> bool:
    return body.startswith("[") and json.loads(body)[0] == POINTER


@pytest.fixture
def examples(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch
) -> tuple[ModuleType, ModuleType, dict[str, tuple[str, str]]]:
    """large_payloads and large_payloads_shared, with their bucket and both queues."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)  # no vmsg-producer
    aws.client("s3").create_bucket(Bucket=BUCKET)
    queues = {
        "new": _queue(aws, "catalogs"),
        "legacy": _queue(aws, "catalogs-legacy", MaximumMessageSize="262144"),
    }
    monkeypatch.setenv("LARGE_PAYLOAD_BUCKET", BUCKET)
    monkeypatch.setenv("CATALOG_QUEUE_URL", queues["new"][0])
    monkeypatch.setenv("LEGACY_CATALOG_QUEUE_URL", queues["legacy"][0])
    large = importlib.reload(importlib.import_module("large_payloads"))
    shared = importlib.reload(importlib.import_module("large_payloads_shared"))
    return large, shared, queues


def _catalog(large: ModuleType, catalog_id: str, total: int) -> Any:
    """A catalog whose message (JSON body + stamp attributes) is exactly ``total`` bytes."""
    stamp = len("vmsg-type") + len("String") + len("catalog.published")
    stamp += len("vmsg-version") + len("Number") + len("1")
    empty = large.CatalogPublished(catalog_id=catalog_id, items=[""])
    size = len(large.publisher.encode(empty).body) + stamp
    return large.CatalogPublished(catalog_id=catalog_id, items=["x" * (total - size)])


def test_a_queue_still_at_256_kib_gets_pointers_above_256_kib(
    aws: Emulator, examples: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """send_catalog: the 1 MiB queue takes everything inline; the 256 KiB queue gets a
    pointer for anything over 262,144 bytes (body and attributes), to the byte; the readers
    of both queues get every catalog."""
    large, shared, queues = examples
    at_limit = _catalog(large, "at-limit", 262_144)
    over = _catalog(large, "over", 262_145)
    big = _catalog(large, "big", 600_000)
    for catalog in (at_limit, over, big):
        shared.send_catalog(catalog)
    new, legacy = _receive(aws, queues["new"][0]), _receive(aws, queues["legacy"][0])
    assert sorted(json.loads(m["Body"])["catalog_id"] for m in new) == ["at-limit", "big", "over"]
    inline = [json.loads(m["Body"])["catalog_id"] for m in legacy if not _is_pointer(m["Body"])]
    assert inline == ["at-limit"]
    assert len(legacy) == 3  # "over" and "big" are pointers
    for name, messages in (("new", new), ("legacy", legacy)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="large_payloads"):
            response = large.lambda_handler(lambda_sqs_event(messages, queues[name][1]), None)
        assert response == {"batchItemFailures": []}
        assert len([r for r in caplog.records if r.name == "large_payloads"]) == 3


def test_without_the_threshold_the_256_kib_queue_refuses_the_message(
    aws: Emulator, examples: Any
) -> None:
    """Why the recipe sets max_message_bytes: by default the publisher allows 1 MiB inline,
    and SQS refuses the 300 KiB message at the 256 KiB queue."""
    large, _, queues = examples
    with pytest.raises(botocore.exceptions.ClientError, match="shorter than 262144"):
        large.publisher.send(queues["legacy"][0], _catalog(large, "big", 300_000))


def test_one_threshold_gives_both_queues_the_same_form(aws: Emulator, examples: Any) -> None:
    """send_catalogs_alike: a catalog over 256 KiB is a pointer in both queues, a small one
    inline in both."""
    large, shared, queues = examples
    small = large.CatalogPublished(catalog_id="small", items=["a"])
    results = shared.send_catalogs_alike([small, _catalog(large, "big", 300_000)])
    assert all(r.ok for r in results)
    for name in ("new", "legacy"):
        forms = sorted(_is_pointer(m["Body"]) for m in _receive(aws, queues[name][0]))
        assert forms == [False, True]


# --8<-- [start:filter-scope]
BODY_SCOPE = {"vmsg": {"type": ["catalog.published"]}}  # FilterPolicyScope: MessageBody
ATTRIBUTE_SCOPE = {"vmsg-type": ["catalog.published"]}  # FilterPolicyScope: MessageAttributes


def test_a_body_scoped_filter_drops_offloaded_embedded_messages(
    aws: Emulator, examples: Any
) -> None:
    """With embed=True the stamp is in the body, until the body goes to S3: the message
    is then the bare pointer, which a MessageBody filter on "vmsg" never matches, and SNS
    drops it without a trace. The vmsg-* attributes stay on the pointer message, so a
    MessageAttributes filter delivers both."""
    large, _, _ = examples
    sns = aws.client("sns")
    topic = sns.create_topic(Name="catalogs")["TopicArn"]
    delivered: dict[str, list[str]] = {}
    for scope, policy in (("MessageBody", BODY_SCOPE), ("MessageAttributes", ATTRIBUTE_SCOPE)):
        url, arn = _queue(aws, f"catalogs-{scope}")
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={
                "RawMessageDelivery": "true",
                "FilterPolicyScope": scope,
                "FilterPolicy": json.dumps(policy),
            },
        )
        delivered[scope] = [url]
    small = large.CatalogPublished(catalog_id="small", items=["a"])
    big = _catalog(large, "big", 300_000)  # over SNS's 256 KiB: offloaded
    large.publisher.publish(topic, small, embed=True)
    large.publisher.publish(topic, big, embed=True)
    body_scoped = _receive(aws, delivered["MessageBody"][0])
    attribute_scoped = _receive(aws, delivered["MessageAttributes"][0])
    assert [json.loads(m["Body"])["data"]["catalog_id"] for m in body_scoped] == ["small"]
    assert sorted(_is_pointer(m["Body"]) for m in attribute_scoped) == [False, True]


# --8<-- [end:filter-scope]
