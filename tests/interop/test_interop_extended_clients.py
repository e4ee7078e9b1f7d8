"""The official Python extended clients (amazon-sqs-extended-client, amazon-sns-extended-client)
against our Publisher and Consumer, both ways, on the moto server.

Their clients are real boto3 clients from their own session classes, reaching moto through
``endpoint_url``; their S3 client is made by their session and reaches moto through the
``AWS_ENDPOINT_URL`` the ``aws`` fixture sets. Their pointers carry no S3 metadata, so the
stamp our consumer reads is the one in the message attributes, which they keep.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from interop_support import (
    TYPE,
    Catalog,
    CatalogV1,
    Seen,
    big_catalog,
    import_tool,
    make_consumer,
    pointer_of,
    queue,
    receive,
    registry,
    submodule,
    topic_to_queue,
)

import versioned_msgs as vm
from versioned_msgs._cli.worker import Worker
from versioned_msgs.testing import Emulator, lambda_sqs_event

sqs_extended = submodule(
    import_tool("sqs_extended_client", "amazon-sqs-extended-client is not installed"), "client"
)
sns_extended = submodule(
    import_tool("sns_extended_client", "amazon-sns-extended-client is not installed"), "session"
)

BUCKET = "interop-payloads"
CURRENT = ("software.amazon.payloadoffloading.PayloadS3Pointer", "ExtendedPayloadSize")
LEGACY = ("com.amazon.sqs.javamessaging.MessageS3Pointer", "SQSLargePayloadSize")


def _session_kwargs(aws: Emulator) -> dict[str, str]:
    return {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_session_token": "testing",
        "region_name": aws.region,
    }


def their_sqs(aws: Emulator, *, legacy: bool = False) -> Any:
    """The extended SQS client, offloading into BUCKET; ``legacy`` writes the old pointer."""
    session = sqs_extended.SQSExtendedClientSession(**_session_kwargs(aws))
    client = session.client("sqs", endpoint_url=aws.endpoint_url)
    client.large_payload_support = BUCKET
    client.use_legacy_attribute = legacy
    return client


def their_sns(aws: Emulator, *, legacy: bool = False) -> Any:
    """The extended SNS client, offloading into BUCKET; ``legacy`` writes the old pointer."""
    session = sns_extended.SNSExtendedClientSession(**_session_kwargs(aws))
    client = session.client("sns", endpoint_url=aws.endpoint_url)
    client.large_payload_support = BUCKET
    client.use_legacy_attribute = legacy
    return client


def test_importing_the_extended_clients_left_boto3_alone() -> None:
    """Their packages swap boto3's Session class on import; every other test of the run
    must still get plain boto3 sessions and clients."""
    theirs = (sqs_extended.SQSExtendedClientSession, sns_extended.SNSExtendedClientSession)
    assert not issubclass(boto3.Session, theirs)
    assert not issubclass(boto3.session.Session, theirs)
    assert boto3.DEFAULT_SESSION is None or not isinstance(boto3.DEFAULT_SESSION, theirs)
    assert not hasattr(boto3.client("sqs", region_name="us-east-1"), "large_payload_support")


@pytest.fixture
def bucket(aws: Emulator) -> str:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def _stamp_attributes(version: int = 2) -> dict[str, dict[str, str]]:
    return vm.Stamp(type=TYPE, version=version).to_message_attributes()


def _their_objects(aws: Emulator) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET)
    return [o["Key"] for o in listed.get("Contents", [])]


# ---- our Publisher -> their receive_message ---------------------------------------------


def test_their_sqs_client_reads_what_our_publisher_offloaded(aws: Emulator, bucket: str) -> None:
    """A message our Publisher sent through S3 comes out of their receive_message whole,
    stamp attributes kept and the size attribute they consume removed."""
    url, _ = queue(aws, "ours-to-theirs")
    big = big_catalog("c-big")
    small = Catalog(catalog_id="c-small", items=["one"], region="us")
    pub = vm.Publisher(
        registry, sqs=aws.client("sqs"), s3=aws.client("s3"), large_payload_bucket=bucket
    )
    pub.send(url, big, max_message_bytes=262_144)
    pub.send(url, small, max_message_bytes=262_144)
    # what is on the queue: one pointer, one inline body
    raw = receive(aws.client("sqs"), url, 2)
    assert sorted(pointer_of(m["Body"]) is not None for m in raw) == [False, True]
    aws.client("sqs").change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(raw)
        ],
    )

    got = receive(their_sqs(aws), url, 2)
    by_id = {registry.decode(m["Body"].encode(), _stamp_of(m))[0].catalog_id: m for m in got}
    assert by_id["c-big"]["Body"].encode() == registry.encode(big).body
    assert by_id["c-small"]["Body"].encode() == registry.encode(small).body
    for m in got:
        attrs = m["MessageAttributes"]
        assert attrs["vmsg-type"]["StringValue"] == TYPE
        assert attrs["vmsg-version"] == {"StringValue": "2", "DataType": "Number"}
        assert "ExtendedPayloadSize" not in attrs


def _stamp_of(message: dict[str, Any]) -> vm.Stamp:
    attrs = message["MessageAttributes"]
    return vm.Stamp(
        type=attrs["vmsg-type"]["StringValue"], version=int(attrs["vmsg-version"]["StringValue"])
    )


def test_their_sqs_client_reads_what_our_publisher_offloaded_through_raw_sns(
    aws: Emulator, bucket: str
) -> None:
    """Through SNS with raw delivery the pointer arrives with its attributes as SQS
    attributes, so their SQS client resolves what our Publisher published."""
    topic, url, _ = topic_to_queue(aws, "ours-raw", raw=True)
    big = big_catalog("c-sns")
    pub = vm.Publisher(
        registry, sns=aws.client("sns"), s3=aws.client("s3"), large_payload_bucket=bucket
    )
    pub.publish(topic, big)
    (message,) = receive(their_sqs(aws), url, 1)
    assert message["Body"].encode() == registry.encode(big).body
    assert message["MessageAttributes"]["vmsg-type"]["StringValue"] == TYPE


# ---- their send_message / publish -> our consumer and worker -----------------------------


@pytest.mark.parametrize("fmt", [CURRENT, LEGACY], ids=["current", "legacy"])
def test_our_consumer_reads_their_sqs_pointers(
    aws: Emulator, bucket: str, fmt: tuple[str, str]
) -> None:
    """Their send_message offloads a v1 and a v2 catalog; the consumer follows both
    pointers (only into the allowed bucket) and hands the handler the upgraded models."""
    url, arn = queue(aws, "theirs-sqs")
    theirs = their_sqs(aws, legacy=fmt is LEGACY)
    v1 = CatalogV1(catalog_id="old", items=[f"{i}-" + "y" * 300 for i in range(900)])
    for msg in (v1, big_catalog("new")):
        enc = registry.encode(msg)
        theirs.send_message(
            QueueUrl=url,
            MessageBody=enc.body.decode(),
            MessageAttributes=enc.stamp.to_message_attributes(),
        )
    assert len(_their_objects(aws)) == 2
    messages = receive(aws.client("sqs"), url, 2)
    for m in messages:  # what they wrote: their pointer class and size attribute
        assert pointer_of(m["Body"]) == (fmt[0], {"s3BucketName": BUCKET, "s3Key": _key(m)})
        assert m["MessageAttributes"][fmt[1]]["DataType"] == "Number"

    seen = Seen()
    consumer = make_consumer(seen, s3=aws.client("s3"), bucket=bucket)
    report = consumer.process(lambda_sqs_event(messages, arn))
    assert sorted(r.outcome for r in report.records) == ["handled", "upgraded"]
    assert report.response == {"batchItemFailures": []}
    assert seen.sorted() == [("new", 1000, 2), ("old", 900, 1)]

    # the same pointers with no allowed bucket: rejected, nothing read
    refused = make_consumer(Seen(), s3=aws.client("s3")).process(lambda_sqs_event(messages, arn))
    assert [r.outcome for r in refused.records] == ["rejected", "rejected"]
    assert all(isinstance(r.error, vm.BucketNotAllowedError) for r in refused.records)


def _key(message: dict[str, Any]) -> str:
    found = pointer_of(message["Body"])
    assert found is not None
    return found[1]["s3Key"]


@pytest.mark.parametrize("raw", [False, True], ids=["enveloped", "raw"])
@pytest.mark.parametrize("fmt", [CURRENT, LEGACY], ids=["current", "legacy"])
def test_our_consumer_reads_their_sns_pointers(
    aws: Emulator, bucket: str, fmt: tuple[str, str], raw: bool
) -> None:
    """Their publish offloads a catalog; SNS delivers it to SQS, enveloped or raw, and the
    consumer reads the stamp and the pointer from whichever form arrived."""
    topic, url, arn = topic_to_queue(aws, "theirs-sns", raw=raw)
    big = big_catalog("sns-big")
    enc = registry.encode(big)
    their_sns(aws, legacy=fmt is LEGACY).publish(
        TopicArn=topic,
        Message=enc.body.decode(),
        MessageAttributes=enc.stamp.to_message_attributes(),
    )
    (message,) = receive(aws.client("sqs"), url, 1)
    if raw:
        body, size = message["Body"], message["MessageAttributes"][fmt[1]]["StringValue"]
    else:
        envelope = json.loads(message["Body"])
        body, size = envelope["Message"], envelope["MessageAttributes"][fmt[1]]["Value"]
    found = pointer_of(body)
    assert found is not None
    assert found == (fmt[0], {"s3BucketName": BUCKET, "s3Key": found[1]["s3Key"]})
    assert int(size) == len(enc.body)

    seen = Seen()
    response = make_consumer(seen, s3=aws.client("s3"), bucket=bucket).handle_event(
        lambda_sqs_event([message], arn)
    )
    assert response == {"batchItemFailures": []}
    assert seen.handled == [("sns-big", 1000, 2)]


@pytest.mark.parametrize("fmt", [CURRENT, LEGACY], ids=["current", "legacy"])
def test_our_worker_drains_their_pointers(aws: Emulator, bucket: str, fmt: tuple[str, str]) -> None:
    """The worker feeds their offloaded messages to consumer.handle_event: the handled ones
    are deleted, the one whose handler failed stays on the queue."""
    sqs = aws.client("sqs")
    url, _ = queue(aws, "theirs-worker", {"VisibilityTimeout": "30"})
    theirs = their_sqs(aws, legacy=fmt is LEGACY)
    for catalog_id in ("w-1", "boom", "w-2"):
        enc = registry.encode(big_catalog(catalog_id, n=900))
        theirs.send_message(
            QueueUrl=url,
            MessageBody=enc.body.decode(),
            MessageAttributes=enc.stamp.to_message_attributes(),
        )
    seen = Seen()
    consumer = make_consumer(seen, s3=aws.client("s3"), bucket=bucket)
    stats = Worker(sqs, url, consumer.handle_event, wait_seconds=0, heartbeat=False).run(
        until_empty=True
    )
    assert (stats.received, stats.deleted, stats.left, stats.handler_errors) == (3, 2, 1, 0)
    assert seen.sorted() == [("w-1", 900, 2), ("w-2", 900, 2)]
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
