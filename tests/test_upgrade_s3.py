"""upgrade-s3: conditional in-place upgrades of stored objects (versioned_msgs._cli.upgrade_s3)."""

from __future__ import annotations

import json
from collections.abc import Callable
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


# ---- concurrent changes, Object Lock, old versions, size, failures, the state file ------


def _hook(client: Any, event: str, action: Callable[[], None], *, times: int = 1) -> list[int]:
    """Run ``action`` on botocore ``event`` of ``client`` (``before-call.s3.PutObject``...),
    the first ``times`` times; the returned list counts the runs."""
    runs: list[int] = []

    def fire(**_: Any) -> None:
        if len(runs) < times:
            runs.append(1)
            action()

    client.meta.events.register(event, fire)
    return runs


def _versions(s3: Any, bucket: str, key: str) -> list[str]:
    """The key's version ids, newest first."""
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    return [v["VersionId"] for v in listed if v["Key"] == key]


def _tags(s3: Any, bucket: str, key: str, **version: str) -> list[tuple[str, str]]:
    tag_set = s3.get_object_tagging(Bucket=bucket, Key=key, **version)["TagSet"]
    return sorted((t["Key"], t["Value"]) for t in tag_set)


def _retag(s3: Any, bucket: str, key: str, **tags: str) -> None:
    """Another tool replacing the tags of the current version."""
    tag_set = [{"Key": k, "Value": v} for k, v in tags.items()]
    s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tag_set})


def _replace_metadata(s3: Any, bucket: str, key: str, **metadata: str) -> None:
    """What another tool does to change only the metadata: the ETag stays the same."""
    head = s3.head_object(Bucket=bucket, Key=key)
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE",
        Metadata={**head["Metadata"], **metadata},
        ContentType=head["ContentType"],
    )


@pytest.fixture
def versioned(aws: Emulator) -> tuple[Any, Any, str]:
    """(the client the backfill uses, another writer's client, a versioned bucket)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="history")
    s3.put_bucket_versioning(Bucket="history", VersioningConfiguration={"Status": "Enabled"})
    return s3, aws.client("s3"), "history"


def test_metadata_only_change_after_the_read_is_left_alone(
    bucket: tuple[Any, str], aws: Emulator
) -> None:
    """A CopyObject that replaces only the metadata keeps the ETag, so IfMatch alone would
    let the rewrite put the old metadata back. The re-check before the write sees it."""
    s3, name = bucket
    _put_v1(s3, name, "k", 1, Metadata={"tenant": "acme"})
    other = aws.client("s3")
    _hook(s3, "after-call.s3.GetObject", lambda: _replace_metadata(other, name, "k", tenant="new"))
    result = upgrade_object(s3, registry, name, "k")
    assert (result.outcome, result.temporary) == ("conflict", True)
    assert "Metadata" in result.detail
    head = s3.head_object(Bucket=name, Key="k")
    assert head["Metadata"]["tenant"] == "new"
    assert head["Metadata"]["vmsg-version"] == "1"
    assert upgrade_object(s3, registry, name, "k").outcome == "upgraded"  # a rerun does it
    assert s3.head_object(Bucket=name, Key="k")["Metadata"]["tenant"] == "new"


def test_header_only_change_after_the_read_is_left_alone(
    bucket: tuple[Any, str], aws: Emulator
) -> None:
    """The same for a header the rewrite carries (Cache-Control), metadata untouched."""
    s3, name = bucket
    _put_v1(s3, name, "k", 1, CacheControl="max-age=60")
    other = aws.client("s3")

    def recache() -> None:
        head = other.head_object(Bucket=name, Key="k")
        other.copy_object(
            Bucket=name,
            Key="k",
            CopySource={"Bucket": name, "Key": "k"},
            MetadataDirective="REPLACE",
            Metadata=head["Metadata"],
            ContentType=head["ContentType"],
            CacheControl="no-store",
        )

    _hook(s3, "after-call.s3.GetObject", recache)
    result = upgrade_object(s3, registry, name, "k")
    assert result.outcome == "conflict"
    assert "CacheControl" in result.detail
    assert s3.head_object(Bucket=name, Key="k")["CacheControl"] == "no-store"


def test_tag_added_after_the_read_is_kept(bucket: tuple[Any, str], aws: Emulator) -> None:
    """Tags are read again right before the write, so one added since the read is carried
    (they used to be read only when GetObject had counted some)."""
    s3, name = bucket
    _put_v1(s3, name, "k", 1)
    other = aws.client("s3")
    _hook(s3, "after-call.s3.GetObject", lambda: _retag(other, name, "k", legal="review"))
    assert upgrade_object(s3, registry, name, "k").outcome == "upgraded"
    assert _stamp(s3, name, "k")[0].version == 2  # type: ignore[union-attr]
    assert _tags(s3, name, "k") == [("legal", "review")]


def test_unversioned_window_between_recheck_and_write(
    bucket: tuple[Any, str], aws: Emulator
) -> None:
    """The window the guide documents: without versioning, a metadata-only change landing
    after the re-check and before PutObject is replaced by the rewrite, and nothing can tell."""
    s3, name = bucket
    _put_v1(s3, name, "k", 1, Metadata={"tenant": "acme"})
    other = aws.client("s3")
    _hook(s3, "before-call.s3.PutObject", lambda: _replace_metadata(other, name, "k", tenant="new"))
    assert upgrade_object(s3, registry, name, "k").outcome == "upgraded"
    assert s3.head_object(Bucket=name, Key="k")["Metadata"]["tenant"] == "acme"


def test_versioned_metadata_change_during_the_write_is_reported(
    versioned: tuple[Any, Any, str],
) -> None:
    """In a versioned bucket the version before ours must be the one read. A metadata-only
    change landing between the re-check and the write made another version: reported as
    written-over, naming both, and the other writer's version is still there."""
    s3, other, name = versioned
    _put_v1(s3, name, "k", 1, Metadata={"tenant": "acme"})
    (read,) = _versions(s3, name, "k")
    _hook(s3, "before-call.s3.PutObject", lambda: _replace_metadata(other, name, "k", tenant="new"))
    result = upgrade_object(s3, registry, name, "k")
    ours, theirs, first = _versions(s3, name, "k")
    assert first == read
    assert (result.outcome, result.temporary) == ("written-over", False)
    assert f"version {theirs}, not version {read}" in result.detail
    assert ours in result.detail
    kept = s3.head_object(Bucket=name, Key="k", VersionId=theirs)["Metadata"]
    assert kept["tenant"] == "new"
    assert "acme" not in result.detail
    assert "new" not in result.detail.split()


def test_versioned_tag_change_during_the_write_is_reported(
    versioned: tuple[Any, Any, str],
) -> None:
    """A tag change on the version read, landing between the tag read and the write, is
    seen afterwards on that version's tags."""
    s3, other, name = versioned
    _put_v1(s3, name, "k", 1, Tagging="team=shop")
    (read,) = _versions(s3, name, "k")
    _hook(s3, "before-call.s3.PutObject", lambda: _retag(other, name, "k", team="legal"))
    result = upgrade_object(s3, registry, name, "k")
    assert result.outcome == "written-over"
    assert f"the tags of version {read} changed" in result.detail
    assert _tags(s3, name, "k", VersionId=read) == [("team", "legal")]
    assert _tags(s3, name, "k") == [("team", "shop")]  # what the rewrite carried


def test_quiet_versioned_rewrite_is_upgraded(versioned: tuple[Any, Any, str]) -> None:
    """Nothing raced: the check after the write finds the version read just before ours."""
    s3, _, name = versioned
    _put_v1(s3, name, "k", 1, Tagging="team=shop")
    assert upgrade_object(s3, registry, name, "k").outcome == "upgraded"
    assert len(_versions(s3, name, "k")) == 2
    assert _tags(s3, name, "k") == [("team", "shop")]


def test_check_after_write_that_cannot_run_is_unverified(
    versioned: tuple[Any, Any, str],
) -> None:
    """The write happened; a failing check after it is reported as such, not as 'failed'."""
    s3, _, name = versioned
    _put_v1(s3, name, "k", 1)

    def denied(**_: Any) -> None:
        raise MemoryError

    s3.meta.events.register("before-call.s3.ListObjectVersions", denied)
    result = upgrade_object(s3, registry, name, "k")
    assert result.outcome == "unverified"
    assert "upgraded (version" in result.detail
    assert "MemoryError" in result.detail
    assert _stamp(s3, name, "k")[0].version == 2  # type: ignore[union-attr]


def test_object_from_before_versioning_is_checked_as_version_null(
    bucket: tuple[Any, str], aws: Emulator
) -> None:
    """An object written before versioning was turned on is version "null": the check after
    the write looks at that version's tags, not at the current object's."""
    s3, name = bucket
    _put_v1(s3, name, "k", 1, Tagging="team=shop")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert upgrade_object(s3, registry, name, "k").outcome == "upgraded"
    assert _versions(s3, name, "k")[1] == "null"

    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    _put_v1(s3, name, "n", 1, Tagging="team=shop")  # "null" again, versioning suspended
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    other = aws.client("s3")
    _hook(s3, "before-call.s3.PutObject", lambda: _retag(other, name, "n", team="legal"))
    result = upgrade_object(s3, registry, name, "n")
    assert result.outcome == "written-over"
    assert "the tags of version null changed" in result.detail


# -- Object Lock ----------------------------------------------------------------------------


def _moto_reads_retention(s3: Any, reader: Any) -> None:
    """moto answers GetObjectRetention with a 500; answer it from the object's own
    retention as HeadObject reports it (``reader`` is a client without this hook)."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    asked: list[dict[str, Any]] = []

    def remember(params: dict[str, Any], **_: Any) -> None:
        asked.append(dict(params))

    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        params = asked.pop()
        head = reader.head_object(**{k: params[k] for k in ("Bucket", "Key", "VersionId")})
        status, parsed = 200, {}
        if "ObjectLockMode" in head:
            mode, until = head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]
            parsed["Retention"] = {"Mode": mode, "RetainUntilDate": until}
        else:  # what S3 answers for a version without retention
            status = 404
            parsed["Error"] = {"Code": "NoSuchObjectLockConfiguration", "Message": "none"}
        parsed["ResponseMetadata"] = {"HTTPStatusCode": status, "HTTPHeaders": {}}
        return AWSResponse("https://moto.invalid/", status, HTTPHeaders(), None), parsed

    s3.meta.events.register("provide-client-params.s3.GetObjectRetention", remember)
    s3.meta.events.register("before-call.s3.GetObjectRetention", answer)


@pytest.fixture
def locked(aws: Emulator) -> tuple[Any, Any, str]:
    """(the backfill's client, another client, a bucket with Object Lock enabled)."""
    s3, other = aws.client("s3"), aws.client("s3")
    s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
    _moto_reads_retention(s3, other)
    return s3, other, "vault"


def test_object_lock_hold_and_retention_are_kept(locked: tuple[Any, Any, str]) -> None:
    """The new current version gets the legal hold and the retention (mode and date) of the
    version read: rewriting never leaves the object as users see it unprotected."""
    import datetime

    s3, _, name = locked
    until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)).replace(
        microsecond=0
    )
    _put_v1(
        s3,
        name,
        "held",
        1,
        ObjectLockLegalHoldStatus="ON",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
    )
    _put_v1(s3, name, "free", 2)
    summary = upgrade_prefix(s3, registry, name, "")
    assert summary.complete, summary.render()
    (ours, read) = _versions(s3, name, "held")
    assert s3.get_object_legal_hold(Bucket=name, Key="held", VersionId=ours)["LegalHold"] == {
        "Status": "ON"
    }
    head = s3.head_object(Bucket=name, Key="held")
    assert head["VersionId"] == ours
    assert _stamp(s3, name, "held")[0].version == 2  # type: ignore[union-attr]
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] == until
    old = s3.head_object(Bucket=name, Key="held", VersionId=read)
    assert old["ObjectLockLegalHoldStatus"] == "ON"
    free = s3.head_object(Bucket=name, Key="free")
    assert "ObjectLockMode" not in free
    assert free.get("ObjectLockLegalHoldStatus") != "ON"


def test_legal_hold_placed_during_the_write_reaches_our_version(
    locked: tuple[Any, Any, str],
) -> None:
    """A legal hold put on the version read between the re-check and the write is found by
    the check after the write, put on the new version too, and reported."""
    s3, other, name = locked
    _put_v1(s3, name, "k", 1)
    (read,) = _versions(s3, name, "k")
    _hook(
        s3,
        "before-call.s3.PutObject",
        lambda: other.put_object_legal_hold(
            Bucket=name, Key="k", VersionId=read, LegalHold={"Status": "ON"}
        ),
    )
    result = upgrade_object(s3, registry, name, "k")
    ours, _ = _versions(s3, name, "k")
    assert result.outcome == "written-over"
    assert f"Object Lock settings of version {read} changed" in result.detail
    assert f"legal hold now also on version {ours}" in result.detail
    assert s3.get_object_legal_hold(Bucket=name, Key="k", VersionId=ours)["LegalHold"] == {
        "Status": "ON"
    }


# -- old versions, size, failures -----------------------------------------------------------


def test_a_version_that_is_not_current_is_never_written(
    versioned: tuple[Any, Any, str],
) -> None:
    """Naming an old version (as an S3 Batch task may) is refused: its content and metadata
    are never written over the current object."""
    s3, _, name = versioned
    _put_v1(s3, name, "k", 1, Metadata={"tenant": "old"})
    (old,) = _versions(s3, name, "k")
    _replace_metadata(s3, name, "k", tenant="current")  # same body and ETag, a new version
    result = upgrade_object(s3, registry, name, "k", version_id=old)
    assert (result.outcome, result.temporary) == ("not-current", False)
    assert f"version {old} is not the current one" in result.detail
    assert len(_versions(s3, name, "k")) == 2
    assert s3.head_object(Bucket=name, Key="k")["Metadata"]["tenant"] == "current"
    (current, _) = _versions(s3, name, "k")
    assert upgrade_object(s3, registry, name, "k", version_id=current).outcome == "upgraded"


class _WatchedBody:
    """A GetObject body stream that counts the bytes read from it."""

    def __init__(self, stream: Any, read: list[int]) -> None:
        self._stream = stream
        self._read = read

    def read(self, amt: int | None = None) -> bytes:
        data: bytes = self._stream.read(amt)
        self._read.append(len(data))
        return data

    def close(self) -> None:
        self._stream.close()


def test_object_over_max_bytes_is_refused_unread(
    bucket: tuple[Any, str], aws: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """ContentLength is checked before the body is read: a larger object is a permanent
    failure and no byte of it is read. upgrade-s3 takes --max-bytes."""
    s3, name = bucket
    enc = registry_v1.encode(OrderCreatedV1(order_id="x" * 3000, total_cents=1))
    s3.put_object(Bucket=name, Key="big", Body=enc.body, Metadata=enc.stamp.to_s3_metadata())
    read: list[int] = []

    def watch(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Body"] = _WatchedBody(parsed["Body"], read)

    s3.meta.events.register("after-call.s3.GetObject", watch)
    result = upgrade_object(s3, registry, name, "big", max_bytes=1000)
    assert (result.outcome, result.temporary) == ("failed", False)
    assert f"object of {len(enc.body)} bytes is larger than max_bytes (1000)" in result.detail
    assert sum(read) == 0
    assert upgrade_object(s3, registry, name, "big", max_bytes=len(enc.body)).outcome == "upgraded"
    with pytest.raises(ValueError, match="max_bytes"):
        upgrade_object(s3, registry, name, "big", max_bytes=0)

    _put_v1(s3, name, "small", 1)
    s3.put_object(Bucket=name, Key="big", Body=enc.body, Metadata=enc.stamp.to_s3_metadata())
    argv = ["upgrade-s3", f"s3://{name}/", TARGET, "--endpoint-url", aws.endpoint_url]
    assert main([*argv, "--max-bytes", "1000"]) == 1
    out = capsys.readouterr().out
    assert "larger than max_bytes (1000)" in out
    assert "2 objects, upgraded 1, 1 left undone" in out
    assert main([*argv, "--max-bytes", "0"]) == 2


def test_an_object_that_fails_to_load_is_recorded_and_the_run_goes_on(
    bucket: tuple[Any, str], tmp_path: Path
) -> None:
    """Any exception while one object loads (here a MemoryError from the client) makes that
    object 'failed'; the others are upgraded, the state file lists it, and a run resumed
    from that state carries it on until a run starts over."""
    s3, name = bucket
    for i in range(6):
        _put_v1(s3, name, f"k{i}", i + 1)

    def out_of_memory(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == "k1":
            raise MemoryError

    s3.meta.events.register("provide-client-params.s3.GetObject", out_of_memory)
    state = tmp_path / "state.json"

    def stop_in_third_page(result: ObjectResult) -> None:
        if result.key == "k4":
            raise KeyboardInterrupt

    run = {"state_file": str(state), "page_size": 2, "concurrency": 1}
    first = upgrade_prefix(s3, registry, name, "", on_result=stop_in_third_page, **run)
    assert first.interrupted
    assert [(p.key, p.outcome, p.temporary) for p in first.problems] == [("k1", "failed", False)]
    assert first.problems[0].detail == "unexpected MemoryError (its text is not shown)"
    recorded = json.loads(state.read_text())
    assert recorded["last_key"] == "k3"
    assert [(p["key"], p["outcome"]) for p in recorded["left_undone"]] == [("k1", "failed")]

    second = upgrade_prefix(s3, registry, name, "", state_file=str(state), page_size=2)
    assert second.total == 2  # k4, k5
    assert not second.complete
    assert [p.key for p in second.carried] == ["k1"]
    assert "k1 (an earlier run): failed: object: unexpected MemoryError" in second.render()
    assert "1 left undone" in second.render()
    recorded = json.loads(state.read_text())
    assert recorded["complete"] is True
    assert [p["key"] for p in recorded["left_undone"]] == ["k1"]

    s3.meta.events.unregister("provide-client-params.s3.GetObject", out_of_memory)
    third = upgrade_prefix(s3, registry, name, "", state_file=str(state), page_size=2)
    assert third.complete  # the finished state starts over: k1 is retried and upgraded
    assert json.loads(state.read_text())["left_undone"] == []
    assert all(_stamp(s3, name, f"k{i}")[0].version == 2 for i in range(6))  # type: ignore[union-attr]


def test_state_file_never_follows_a_planted_link(bucket: tuple[Any, str], tmp_path: Path) -> None:
    """The state is written to a new temporary file (O_EXCL, a name nobody chose before)
    and moved over the state file: a symlink planted at <state>.tmp is never written through."""
    s3, name = bucket
    _put_v1(s3, name, "k", 1)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state = tmp_path / "state.json"
    planted = tmp_path / "state.json.tmp"
    planted.symlink_to(victim)
    summary = upgrade_prefix(s3, registry, name, "", state_file=str(state))
    assert summary.complete
    assert victim.read_text() == "precious\n"
    assert planted.is_symlink()
    assert not state.is_symlink()
    assert json.loads(state.read_text())["complete"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.tmp", "victim"]
