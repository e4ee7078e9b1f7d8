"""versioned-msgs inspect: an S3 object's stamp, a queue's histogram."""

from __future__ import annotations

import json
from typing import Any

import pytest

from versioned_msgs._cli.demo_models import CustomerUpdated, OrderCreatedV1, registry, registry_v1
from versioned_msgs._cli.main import main
from versioned_msgs.testing import Emulator

TARGET = "versioned_msgs._cli.demo_models:registry"


def test_inspect_object(aws: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """The stamp, user metadata and a decode summary of one object are printed."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="inspect-me")
    enc = registry_v1.encode(OrderCreatedV1(order_id="o-1", total_cents=5), producer="shop:7")
    s3.put_object(
        Bucket="inspect-me",
        Key="a/o-1.json",
        Body=enc.body,
        ContentType="application/json",
        Metadata={**enc.stamp.to_s3_metadata(), "tenant": "acme"},
    )
    url = "s3://inspect-me/a/o-1.json"
    assert main(["inspect", url, "--registry", TARGET, "--endpoint-url", aws.endpoint_url]) == 0
    out = capsys.readouterr().out
    assert "type           order.created" in out
    assert "version        1" in out
    assert "producer       shop:7" in out
    assert "metadata       tenant=acme" in out
    assert "OK upgraded v1 -> v2 into OrderCreated" in out
    assert 'order_id="o-1"' in out


def test_inspect_missing_object_is_failure(
    aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """An AWS error exits 1 with the error, not a traceback."""
    aws.client("s3").create_bucket(Bucket="inspect-me")
    assert main(["inspect", "s3://inspect-me/nope", "--endpoint-url", aws.endpoint_url]) == 1
    assert "AWS error" in capsys.readouterr().err


def _send(sqs: Any, url: str, body: bytes, attrs: dict[str, Any]) -> None:
    sqs.send_message(QueueUrl=url, MessageBody=body.decode(), MessageAttributes=attrs)


def test_inspect_queue_histogram_without_consuming(
    aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Messages are counted per type, version and carrier, and stay in the queue."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="peek")["QueueUrl"]
    v1 = registry_v1.encode(OrderCreatedV1(order_id="o", total_cents=1))
    v2 = registry.encode(CustomerUpdated(customer_id="c", first_name="A", last_name="B"))
    for _ in range(3):
        _send(sqs, url, v1.body, v1.stamp.to_message_attributes())
    _send(sqs, url, v2.embedded(), {})
    _send(sqs, url, b'{"legacy": true}', {})
    code = main(["inspect", url, "--registry", TARGET, "--endpoint-url", aws.endpoint_url])
    assert code == 0
    out = capsys.readouterr().out
    assert "peeked at 5" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["order.created", "1", "attributes", "upgrades", "to", "v2", "3"] in lines
    assert ["customer.updated", "2", "embedded", "current", "1"] in lines
    assert ["(unversioned)", "-", "none", "1"] in lines
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "5"


def test_inspect_sns_envelope_body(aws: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """A stamp inside an SNS envelope (non-raw delivery) is found."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="peek-sns")["QueueUrl"]
    envelope = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Message": '{"order_id": "o", "total_cents": 1}',
        "MessageAttributes": {
            "vmsg-type": {"Type": "String", "Value": "order.created"},
            "vmsg-version": {"Type": "Number", "Value": "1"},
        },
    }
    _send(sqs, url, json.dumps(envelope, indent=2).encode(), {})
    assert main(["inspect", url, "--endpoint-url", aws.endpoint_url]) == 0
    out = capsys.readouterr().out
    assert ["order.created", "1", "SNS", "envelope", "1"] in [
        line.split() for line in out.splitlines()
    ]


def test_inspect_bad_target_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Neither s3:// nor a URL: exit 2."""
    assert main(["inspect", "queue-name"]) == 2
    assert "expected s3://BUCKET/KEY or an SQS queue URL" in capsys.readouterr().err


def test_inspect_reports_a_deeply_nested_object(
    aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stamped object nested far deeper than Python's JSON reader follows is reported as
    such (exit 0), not a RecursionError; its contents are not printed."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="inspect-me")
    enc = registry_v1.encode(OrderCreatedV1(order_id="o-1", total_cents=5))
    body = b'{"order_id":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    s3.put_object(
        Bucket="inspect-me", Key="deep.json", Body=body, Metadata=enc.stamp.to_s3_metadata()
    )
    url = "s3://inspect-me/deep.json"
    assert main(["inspect", url, "--registry", TARGET, "--endpoint-url", aws.endpoint_url]) == 0
    out = capsys.readouterr().out
    assert "type           order.created" in out
    assert f"{len(body)} bytes, JSON nested too deeply to show" in out
    assert "[[[" not in out


def test_inspect_queue_counts_a_deeply_nested_message(
    aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A queued message nested far deeper than Python's JSON reader follows is counted as
    unversioned (exit 0), not a RecursionError."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    _send(sqs, url, b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}", {})
    code = main(["inspect", url, "--registry", TARGET, "--endpoint-url", aws.endpoint_url])
    assert code == 0
    out = capsys.readouterr().out
    assert "peeked at 1" in out
    assert ["(unversioned)", "-", "none", "1"] in [line.split() for line in out.splitlines()]


def test_inspect_reads_an_object_only_up_to_max_bytes(
    aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """An object larger than --max-bytes shows its stamp and headers; its body is not read
    or decoded."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="inspect-big")
    enc = registry_v1.encode(OrderCreatedV1(order_id="o-" + "x" * 5000, total_cents=5))
    s3.put_object(
        Bucket="inspect-big", Key="big.json", Body=enc.body, Metadata=enc.stamp.to_s3_metadata()
    )
    args = ["inspect", "s3://inspect-big/big.json", "--registry", TARGET]
    args += ["--endpoint-url", aws.endpoint_url, "--max-bytes", "1000"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "type           order.created" in out
    assert "not read: larger than --max-bytes (1000 bytes)" in out
    assert "xxxx" not in out
    assert main([*args[:-1], "100000"]) == 0
    within = capsys.readouterr().out
    assert "not read" not in within
    assert 'payload        order_id="o-xxx' in within
