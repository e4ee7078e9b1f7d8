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


def _versioned(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket="batch-bucket", VersioningConfiguration={"Status": "Enabled"})


def _replace_metadata(s3: Any, key: str, tenant: str) -> None:
    """A metadata-only change (the ETag stays), as another tool makes it."""
    s3.copy_object(
        Bucket="batch-bucket",
        Key=key,
        CopySource={"Bucket": "batch-bucket", "Key": key},
        MetadataDirective="REPLACE",
        Metadata={"vmsg-type": "order.created", "vmsg-version": "1", "tenant": tenant},
    )


def _version_ids(s3: Any, key: str) -> list[str]:
    listed = s3.list_object_versions(Bucket="batch-bucket", Prefix=key)["Versions"]
    return [v["VersionId"] for v in listed if v["Key"] == key]


def test_task_naming_an_old_version_is_a_permanent_failure(s3: Any) -> None:
    """A schema 2.0 task whose s3VersionId is not the current version writes nothing: the
    old version's content and metadata never land over the current object."""
    _versioned(s3)
    _put_v1(s3, "k")
    (old,) = _version_ids(s3, "k")
    _replace_metadata(s3, "k", "current")  # same body and ETag, a new version
    event = _event_v2("k")
    event["tasks"][0]["s3VersionId"] = old
    out = make_handler(registry, s3)(event, None)
    assert out["results"][0]["resultCode"] == "PermanentFailure"
    assert out["results"][0]["resultString"].startswith(
        f"not-current: object: version {old} is not the current one"
    )
    assert len(_version_ids(s3, "k")) == 2
    assert s3.head_object(Bucket="batch-bucket", Key="k")["Metadata"]["tenant"] == "current"
    (current, _) = _version_ids(s3, "k")
    event["tasks"][0]["s3VersionId"] = current
    assert make_handler(registry, s3)(event, None)["results"][0]["resultCode"] == "Succeeded"
    assert s3.head_object(Bucket="batch-bucket", Key="k")["Metadata"]["tenant"] == "current"


def test_max_bytes_refuses_larger_objects(s3: Any) -> None:
    """make_handler(max_bytes=...) caps the objects read; a larger one is a permanent failure."""
    _put_v1(s3, "k")
    out = make_handler(registry, s3, max_bytes=10)(_event_v2("k"), None)
    assert out["results"][0]["resultCode"] == "PermanentFailure"
    assert "larger than max_bytes (10); not read" in out["results"][0]["resultString"]
    assert _version(s3, "k") == 1
    with pytest.raises(ValueError, match="max_bytes"):
        make_handler(registry, s3, max_bytes=0)


def test_change_landing_during_the_write_is_a_permanent_failure(aws: Emulator, s3: Any) -> None:
    """In a versioned bucket, a metadata-only change between the re-check and the write is
    found afterwards: a retry would only find the object current, so the task fails
    permanently and the completion report names the versions."""
    _versioned(s3)
    _put_v1(s3, "k")
    other = aws.client("s3")

    def replace_metadata(**_: Any) -> None:
        _replace_metadata(other, "k", "new")

    s3.meta.events.register_first("before-call.s3.PutObject", replace_metadata)
    out = make_handler(registry, s3)(_event_v1("k"), None)
    s3.meta.events.unregister("before-call.s3.PutObject", replace_metadata)
    assert out["results"][0]["resultCode"] == "PermanentFailure"
    assert out["results"][0]["resultString"].startswith("written-over: order.created v1: version")


def test_an_unexpected_exception_is_answered_not_raised(s3: Any) -> None:
    """Anything one task raises (a MemoryError here) becomes that task's failure; the other
    tasks of the invocation still run."""
    _put_v1(s3, "a")
    _put_v1(s3, "b")

    def out_of_memory(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == "a":
            raise MemoryError

    s3.meta.events.register("provide-client-params.s3.GetObject", out_of_memory)
    out = make_handler(registry, s3)(_event_v2("a", "b"), None)
    assert [r["resultCode"] for r in out["results"]] == ["PermanentFailure", "Succeeded"]
    assert (
        out["results"][0]["resultString"]
        == "failed: object: unexpected MemoryError (its text is not shown)"
    )
    assert _version(s3, "b") == 2
