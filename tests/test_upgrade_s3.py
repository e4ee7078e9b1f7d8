"""upgrade-s3: conditional in-place upgrades of stored objects (versioned_msgs._cli.upgrade_s3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from versioned_msgs import Stamp
from versioned_msgs._cli.demo_models import OrderCreatedV1, registry, registry_v1
from versioned_msgs._cli.main import main
from versioned_msgs._cli.upgrade_s3 import ObjectResult, upgrade_object, upgrade_prefix
from versioned_msgs.testing import Emulator

TARGET = "versioned_msgs._cli.demo_models:registry"


def _put_v1(s3: Any, bucket: str, key: str, n: int, **extra: Any) -> None:
    enc = registry_v1.encode(
        OrderCreatedV1(order_id=f"o-{n}", total_cents=100 * n), producer="shop:1"
    )
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=enc.body,
        ContentType="application/json",
        Metadata={**enc.stamp.to_s3_metadata(), **extra.pop("Metadata", {})},
        **extra,
    )


def _stamp(s3: Any, bucket: str, key: str) -> tuple[Stamp | None, dict[str, Any]]:
    obj = s3.get_object(Bucket=bucket, Key=key)
    body = json.loads(obj["Body"].read())
    return Stamp.from_s3_metadata(obj["Metadata"], content_type=obj["ContentType"]), body


@pytest.fixture
def bucket(aws: Emulator) -> tuple[Any, str]:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="archive")
    return s3, "archive"


def test_cli_upgrades_a_bucket_keeping_metadata_and_tags(
    bucket: tuple[Any, str], aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """v1 objects become v2 with user metadata, content type, headers and tags kept."""
    s3, name = bucket
    _put_v1(
        s3,
        name,
        "orders/a b.json",
        1,
        Metadata={"tenant": "acme"},
        Tagging="team=shop&keep=yes",
        CacheControl="max-age=60",
    )
    _put_v1(s3, name, "orders/2.json", 2)
    enc2 = registry.encode(registry.model("order.created")(order_id="o-3", total_cents=3))
    s3.put_object(
        Bucket=name, Key="orders/3.json", Body=enc2.body, Metadata=enc2.stamp.to_s3_metadata()
    )
    s3.put_object(Bucket=name, Key="orders/raw.json", Body=b'{"x": 1}')
    s3.put_object(Bucket=name, Key="other/1.json", Body=b"{}")

    code = main(["upgrade-s3", f"s3://{name}/orders/", TARGET, "--endpoint-url", aws.endpoint_url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "upgrade-s3 s3://archive/orders/: 4 objects, upgraded 2" in out
    assert "unstamped" in out

    stamp, body = _stamp(s3, name, "orders/a b.json")
    assert stamp is not None
    assert (stamp.type, stamp.version, stamp.producer) == (
        "order.created",
        2,
        "shop:1",
    )
    assert body == {"order_id": "o-1", "total_cents": 100, "currency": "EUR"}
    head = s3.head_object(Bucket=name, Key="orders/a b.json")
    assert head["Metadata"]["tenant"] == "acme"
    assert head["ContentType"] == "application/json"
    assert head["CacheControl"] == "max-age=60"
    tags = s3.get_object_tagging(Bucket=name, Key="orders/a b.json")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("keep", "yes"), ("team", "shop")]
    assert _stamp(s3, name, "orders/2.json")[0].version == 2  # type: ignore[union-attr]
    assert _stamp(s3, name, "orders/raw.json")[0] is None
    assert _stamp(s3, name, "other/1.json")[0] is None


def test_dry_run_writes_nothing(
    bucket: tuple[Any, str], aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run reports what would change and leaves the objects as they are."""
    s3, name = bucket
    _put_v1(s3, name, "k1", 1)
    etag = s3.head_object(Bucket=name, Key="k1")["ETag"]
    code = main(
        ["upgrade-s3", f"s3://{name}/", TARGET, "--dry-run", "--endpoint-url", aws.endpoint_url]
    )
    assert code == 0
    assert "would upgrade 1" in capsys.readouterr().out
    assert s3.head_object(Bucket=name, Key="k1")["ETag"] == etag


class _ConcurrentWriter:
    """A real S3 client whose reads are followed by another producer's write to the same key."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self.rewritten: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def get_object(self, **kwargs: Any) -> Any:
        obj = self._s3.get_object(**kwargs)
        if kwargs["Key"] == "contended":
            enc = registry.encode(registry.model("order.created")(order_id="new", total_cents=9))
            self._s3.put_object(
                Bucket=self._bucket,
                Key="contended",
                Body=enc.body,
                Metadata=enc.stamp.to_s3_metadata(),
            )
            self.rewritten.append(kwargs["Key"])
        return obj


def test_concurrent_writer_is_never_clobbered(bucket: tuple[Any, str]) -> None:
    """An object rewritten between our read and our write is left alone and reported."""
    s3, name = bucket
    _put_v1(s3, name, "contended", 1)
    _put_v1(s3, name, "quiet", 2)
    racing = _ConcurrentWriter(s3, name)
    summary = upgrade_prefix(racing, registry, name, "", concurrency=2)
    assert racing.rewritten == ["contended"]
    assert not summary.complete
    assert [(p.key, p.outcome, p.temporary) for p in summary.problems] == [
        ("contended", "conflict", True)
    ]
    _, body = _stamp(s3, name, "contended")
    assert body == {"order_id": "new", "total_cents": 9, "currency": "EUR"}  # the writer's data
    assert _stamp(s3, name, "quiet")[0].version == 2  # type: ignore[union-attr]
    assert "1 left undone" in summary.render()


def test_resume_from_state_file(bucket: tuple[Any, str], tmp_path: Path) -> None:
    """An interrupted run records the last finished page; the next run resumes after it."""
    s3, name = bucket
    for i in range(5):
        _put_v1(s3, name, f"k{i}", i + 1)
    state = str(tmp_path / "state.json")
    seen: list[str] = []

    def stop_on_third(result: ObjectResult) -> None:
        seen.append(result.key)
        if len(seen) == 3:
            raise KeyboardInterrupt

    first = upgrade_prefix(
        s3,
        registry,
        name,
        "",
        state_file=state,
        page_size=2,
        concurrency=1,
        on_result=stop_on_third,
    )
    assert first.interrupted
    assert not first.complete
    assert json.loads(Path(state).read_text())["last_key"] == "k1"
    assert "resume with --start-after 'k1'" in first.render()

    second = upgrade_prefix(s3, registry, name, "", state_file=state, page_size=2)
    assert second.resumed_from == "k1"
    assert second.complete
    assert sum(second.counts.values()) == 3  # k2..k4
    assert json.loads(Path(state).read_text())["complete"] is True
    assert all(_stamp(s3, name, f"k{i}")[0].version == 2 for i in range(5))  # type: ignore[union-attr]


def test_assume_version_upgrades_unstamped(
    bucket: tuple[Any, str], aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """--assume-version/--assume-type stamp and upgrade objects written before stamping."""
    s3, name = bucket
    s3.put_object(Bucket=name, Key="old", Body=b'{"customer_id": "c1", "name": "Ada Lovelace"}')
    code = main(
        [
            "upgrade-s3",
            f"s3://{name}/",
            TARGET,
            "--assume-version",
            "1",
            "--endpoint-url",
            aws.endpoint_url,
        ]
    )
    assert code == 2  # two types in the registry: the type must be named
    assert "--assume-type" in capsys.readouterr().err
    code = main(
        [
            "upgrade-s3",
            f"s3://{name}/",
            TARGET,
            "--assume-version",
            "1",
            "--assume-type",
            "customer.updated",
            "--endpoint-url",
            aws.endpoint_url,
        ]
    )
    assert code == 0
    stamp, body = _stamp(s3, name, "old")
    assert stamp is not None
    assert (stamp.type, stamp.version) == ("customer.updated", 2)
    assert body == {"customer_id": "c1", "first_name": "Ada", "last_name": "Lovelace"}


def test_bad_payload_is_reported_not_written(bucket: tuple[Any, str]) -> None:
    """A stamped object that does not decode is a failure naming the problem; exit would be 1."""
    s3, name = bucket
    s3.put_object(
        Bucket=name,
        Key="bad",
        Body=b'{"order_id": 5}',
        Metadata={"vmsg-type": "order.created", "vmsg-version": "1"},
    )
    result = upgrade_object(s3, registry, name, "bad")
    assert result.outcome == "failed"
    assert not result.temporary
    assert "order.created v1" in result.detail
    missing = upgrade_object(s3, registry, name, "nope")
    assert missing.outcome == "missing"


def test_usage_errors(aws: Emulator) -> None:
    """A bad URL or concurrency is bad usage (2)."""
    assert main(["upgrade-s3", "bucket/prefix", TARGET]) == 2
    assert main(["upgrade-s3", "s3://b/", TARGET, "--concurrency", "0"]) == 2


def test_result_struct_is_immutable() -> None:
    """ObjectResult is a frozen value with a readable description."""
    r = ObjectResult(key="k", outcome="upgraded", type="t", from_version=1, to_version=2)
    assert r.describe() == "upgraded t v1 -> v2"
    with pytest.raises(AttributeError):
        r.outcome = "x"  # type: ignore[misc]
    assert msgspec.structs.asdict(r)["key"] == "k"


def test_embedded_envelope_objects_stay_embedded(bucket: tuple[Any, str]) -> None:
    """An object stamped only in its body keeps that form; one stamped both ways keeps both."""
    s3, name = bucket
    enc = registry_v1.encode(OrderCreatedV1(order_id="e", total_cents=1))
    s3.put_object(Bucket=name, Key="embedded", Body=enc.embedded())
    s3.put_object(Bucket=name, Key="both", Body=enc.embedded(), Metadata=enc.stamp.to_s3_metadata())
    summary = upgrade_prefix(s3, registry, name, "")
    assert summary.complete
    assert sum(n for k, n in summary.counts.items() if k[3] == "upgraded") == 2
    for key, in_meta in (("embedded", False), ("both", True)):
        obj = s3.get_object(Bucket=name, Key=key)
        body = json.loads(obj["Body"].read())
        assert body == {
            "vmsg": {"type": "order.created", "version": 2, "readable_by": 1},
            "data": {"order_id": "e", "total_cents": 1, "currency": "EUR"},
        }
        assert ("vmsg-version" in obj["Metadata"]) is in_meta
        if in_meta:
            assert obj["Metadata"]["vmsg-version"] == "2"


def test_sigterm_stops_cleanly_with_a_resume_hint(
    bucket: tuple[Any, str],
    aws: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """SIGTERM mid-run (a container stopping) ends the run with exit 1, state saved, a hint."""
    import os
    import signal

    from versioned_msgs._cli import upgrade_s3 as _upgrade_s3

    s3, name = bucket
    for i in range(3):
        _put_v1(s3, name, f"k{i}", i + 1)
    real = _upgrade_s3.upgrade_object
    calls: list[str] = []

    def terminate_on_second(*args: Any, **kwargs: Any) -> ObjectResult:
        calls.append(args[3])
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(_upgrade_s3, "upgrade_object", terminate_on_second)
    before = signal.getsignal(signal.SIGTERM)
    state = str(tmp_path / "s.json")
    code = main(
        [
            "upgrade-s3",
            f"s3://{name}/",
            TARGET,
            "--concurrency",
            "1",
            "--state-file",
            state,
            "--endpoint-url",
            aws.endpoint_url,
        ]
    )
    assert code == 1
    assert "interrupted before a listing page was finished" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) == before
    assert json.loads(Path(state).read_text())["complete"] is False
