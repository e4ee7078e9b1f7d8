"""The S3 Batch Operations handler (versioned_msgs.s3batch)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from versioned_msgs import Stamp
from versioned_msgs._cli.demo_models import OrderCreatedV1, registry, registry_v1
from versioned_msgs.s3batch import make_handler
from versioned_msgs.testing import Emulator


def _put_v1(s3: Any, key: str) -> None:
    enc = registry_v1.encode(OrderCreatedV1(order_id=key, total_cents=1))
    s3.put_object(
        Bucket="batch-bucket", Key=key, Body=enc.body, Metadata=enc.stamp.to_s3_metadata()
    )


def _version(s3: Any, key: str) -> int:
    obj = s3.get_object(Bucket="batch-bucket", Key=key)
    stamp = Stamp.from_s3_metadata(obj["Metadata"])
    assert stamp is not None
    return stamp.version


def _event_v1(*keys: str) -> dict[str, Any]:
    """Invocation schema 1.0, as S3 Batch Operations sends it (keys URL-encoded)."""
    return {
        "invocationSchemaVersion": "1.0",
        "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"},
        "tasks": [
            {
                "taskId": f"t{i}",
                "s3Key": key,
                "s3VersionId": None,
                "s3BucketArn": "arn:aws:s3:::batch-bucket",
            }
            for i, key in enumerate(keys)
        ],
    }


def _event_v2(*keys: str, user_arguments: dict[str, str] | None = None) -> dict[str, Any]:
    """Invocation schema 2.0 (``s3Bucket``, ``job.userArguments``)."""
    return {
        "invocationSchemaVersion": "2.0",
        "invocationId": "Zm9vYmFy",
        "job": {"id": "job-2", "userArguments": user_arguments or {}},
        "tasks": [
            {"taskId": f"t{i}", "s3Bucket": "batch-bucket", "s3Key": key, "s3VersionId": None}
            for i, key in enumerate(keys)
        ],
    }


@pytest.fixture
def s3(aws: Emulator) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket="batch-bucket")
    return client


def test_schema_1_upgrades_and_reports(s3: Any) -> None:
    """Schema 1.0: the listed object is upgraded; the answer echoes schema and invocation id."""
    _put_v1(s3, "dir/my order.json")
    handler = make_handler(registry, s3)
    out = handler(_event_v1("dir/my+order.json"), None)
    assert out["invocationSchemaVersion"] == "1.0"
    assert out["invocationId"] == "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo"
    assert out["treatMissingKeysAs"] == "PermanentFailure"
    assert out["results"] == [
        {
            "taskId": "t0",
            "resultCode": "Succeeded",
            "resultString": "upgraded order.created v1 -> v2",
        }
    ]
    assert _version(s3, "dir/my order.json") == 2
    again = handler(_event_v1("dir/my+order.json"), None)
    assert again["results"][0]["resultCode"] == "Succeeded"
    assert again["results"][0]["resultString"].startswith("current:")


def test_schema_2_mixed_results(s3: Any) -> None:
    """Schema 2.0: success, missing object and undecodable payload get their result codes."""
    _put_v1(s3, "ok%.json")
    s3.put_object(
        Bucket="batch-bucket",
        Key="bad.json",
        Body=b"[1, 2]",
        Metadata={"vmsg-type": "order.created", "vmsg-version": "1"},
    )
    out = make_handler(registry, s3)(_event_v2("ok%25.json", "gone.json", "bad.json"), None)
    assert out["invocationSchemaVersion"] == "2.0"
    codes = [(r["taskId"], r["resultCode"]) for r in out["results"]]
    assert codes == [("t0", "Succeeded"), ("t1", "PermanentFailure"), ("t2", "PermanentFailure")]
    assert "does not exist" in out["results"][1]["resultString"]
    assert "order.created" in out["results"][2]["resultString"]
    assert _version(s3, "ok%.json") == 2


def test_dry_run_user_argument(s3: Any) -> None:
    """userArguments dryRun=true reports without writing."""
    _put_v1(s3, "k")
    out = make_handler(registry, s3)(_event_v2("k", user_arguments={"dryRun": "true"}), None)
    assert out["results"][0]["resultString"] == "would upgrade order.created v1 -> v2"
    assert _version(s3, "k") == 1


class _RacingClient:
    """A real client; another producer rewrites the object right after each read."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def get_object(self, **kwargs: Any) -> Any:
        obj = self._s3.get_object(**kwargs)
        self._s3.put_object(
            Bucket=kwargs["Bucket"],
            Key=kwargs["Key"],
            Body=json.dumps({"order_id": "theirs", "total_cents": 7}).encode(),
            Metadata={"vmsg-type": "order.created", "vmsg-version": "1"},
        )
        return obj


def test_concurrent_write_is_temporary_failure_and_left_alone(s3: Any) -> None:
    """An object changed after the read is not overwritten; S3 Batch should retry the task."""
    _put_v1(s3, "hot")
    out = make_handler(registry, _RacingClient(s3))(_event_v1("hot"), None)
    assert out["results"][0]["resultCode"] == "TemporaryFailure"
    assert "changed after it was read" in out["results"][0]["resultString"]
    body = json.loads(s3.get_object(Bucket="batch-bucket", Key="hot")["Body"].read())
    assert body == {"order_id": "theirs", "total_cents": 7}


def test_malformed_task_is_permanent_failure(s3: Any) -> None:
    """A task without a bucket is answered, not raised."""
    event = _event_v1("k")
    del event["tasks"][0]["s3BucketArn"]
    out = make_handler(registry, s3)(event, None)
    assert out["results"][0]["resultCode"] == "PermanentFailure"
    assert "s3BucketArn" in out["results"][0]["resultString"]


def test_example_handler_upgrades_with_the_examples_registry(
    aws: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/s3batch_handler.py (shown in the docs) upgrades a v1 order to v3."""
    import importlib
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "examples"))
    example = importlib.import_module("s3batch_handler")
    orders = importlib.import_module("orders")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="batch-bucket")
    enc = orders.registry.encode(orders.OrderCreatedV1(order_id="o-1", amount=250))
    s3.put_object(
        Bucket="batch-bucket", Key="o-1", Body=enc.body, Metadata=enc.stamp.to_s3_metadata()
    )
    out = example.lambda_handler(_event_v2("o-1"), None)
    assert out["results"][0]["resultString"] == "upgraded order.created v1 -> v3"
    body = json.loads(s3.get_object(Bucket="batch-bucket", Key="o-1")["Body"].read())
    assert body == {"order_id": "o-1", "total": {"cents": 250, "currency": "EUR"}}
