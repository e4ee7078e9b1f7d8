"""vm.S3Reader on the moto server: exact-object reads, stale objects, the size cap."""

from __future__ import annotations

from typing import Any

import pytest
from consumer_models import PRODUCER, OrderV1, OrderV2, consumer_registry

import versioned_msgs as vm
from versioned_msgs.testing import Emulator


def put(s3: Any, key: str, msg: Any, *, embed: bool = False, bucket: str = "bkt") -> Any:
    enc = PRODUCER.encode(msg)
    if embed:
        return s3.put_object(Bucket=bucket, Key=key, Body=enc.embedded())
    return s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=enc.body,
        ContentType=enc.stamp.content_type,
        Metadata=enc.stamp.to_s3_metadata(),
    )


@pytest.fixture
def s3(aws: Emulator) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket="bkt")
    return client


def test_get_decodes_and_upgrades_with_meta(s3: Any) -> None:
    """get() reads the metadata stamp, upgrades v1 to the current model, fills Meta."""
    resp = put(s3, "k", OrderV1(id="a"))
    reader = vm.S3Reader(consumer_registry(), s3=s3)
    msg, meta = reader.get("bkt", "k", etag=resp["ETag"])
    assert msg == OrderV2(id="a", qty=1)
    assert (meta.type, meta.version, meta.upgraded_from) == ("order.created", 1, 1)
    assert (meta.source, meta.bucket, meta.key, meta.message_id) == ("s3", "bkt", "k", "s3://bkt/k")


def test_get_into_an_older_model(s3: Any) -> None:
    """into= picks the model: a v1 object read as OrderV1 stays as written."""
    put(s3, "k", OrderV1(id="a"))
    msg, _ = vm.S3Reader(consumer_registry(), s3=s3).get("bkt", "k", into=OrderV1)
    assert msg == OrderV1(id="a")


def test_embedded_envelope_is_the_fallback_stamp(s3: Any) -> None:
    """An object without vmsg-* metadata but with an embedded envelope is still stamped."""
    put(s3, "k", OrderV2(id="e", qty=4), embed=True)
    obj = vm.S3Reader(consumer_registry(), s3=s3).fetch("bkt", "k")
    assert obj.stamp is None
    msg, meta = vm.S3Reader(consumer_registry(), s3=s3).get("bkt", "k")
    assert msg == OrderV2(id="e", qty=4)
    assert meta.version == 2


def test_unstamped_object_raises_missing_stamp(s3: Any) -> None:
    """Neither metadata nor envelope: MissingStampError."""
    s3.put_object(Bucket="bkt", Key="k", Body=b'{"id": "x", "qty": 1}')
    with pytest.raises(vm.MissingStampError):
        vm.S3Reader(consumer_registry(), s3=s3).get("bkt", "k")


def test_overwritten_object_is_superseded(s3: Any) -> None:
    """IfMatch with the old ETag after an overwrite: StaleObjectError(reason='superseded')."""
    old = put(s3, "k", OrderV2(id="old", qty=1))
    put(s3, "k", OrderV2(id="new", qty=2))
    reader = vm.S3Reader(consumer_registry(), s3=s3)
    with pytest.raises(vm.StaleObjectError) as info:
        reader.get("bkt", "k", etag=old["ETag"])
    assert info.value.reason == "superseded"
    assert "s3://bkt/k: superseded" in str(info.value)
    assert reader.get("bkt", "k")[0] == OrderV2(id="new", qty=2)


def test_unquoted_etag_from_events_matches(s3: Any) -> None:
    """Events carry the ETag without quotes; it matches the stored object."""
    resp = put(s3, "k", OrderV2(id="q", qty=1))
    etag = resp["ETag"].strip('"')
    assert vm.S3Reader(consumer_registry(), s3=s3).fetch("bkt", "k", etag=etag).body


def test_deleted_object_is_gone(s3: Any) -> None:
    """A deleted key, a missing bucket: StaleObjectError(reason='gone')."""
    put(s3, "k", OrderV2(id="x", qty=1))
    s3.delete_object(Bucket="bkt", Key="k")
    reader = vm.S3Reader(consumer_registry(), s3=s3)
    with pytest.raises(vm.StaleObjectError) as info:
        reader.fetch("bkt", "k")
    assert info.value.reason == "gone"
    with pytest.raises(vm.StaleObjectError):
        reader.fetch("no-such-bucket", "k")


def test_size_cap_is_checked_before_the_body_is_read(s3: Any) -> None:
    """An object over max_bytes raises LimitExceededError naming the limit and the size."""
    put(s3, "k", OrderV2(id="x" * 500, qty=1))
    reader = vm.S3Reader(consumer_registry(), s3=s3, max_bytes=256)
    with pytest.raises(vm.LimitExceededError) as info:
        reader.fetch("bkt", "k")
    assert info.value.limit == "max_bytes"
    assert info.value.allowed == 256
    assert info.value.actual > 256
    assert "larger than max_bytes (256)" in str(info.value)


def test_bad_max_bytes_is_refused() -> None:
    """max_bytes must be a positive integer."""
    with pytest.raises(ValueError, match="max_bytes"):
        vm.S3Reader(consumer_registry(), max_bytes=0)


def test_client_is_made_lazily_from_the_environment(aws: Emulator) -> None:
    """Without s3=, a boto3 client is made on first use (AWS_ENDPOINT_URL reaches moto)."""
    aws.client("s3").create_bucket(Bucket="lazy")
    put(aws.client("s3"), "k", OrderV2(id="l", qty=1), bucket="lazy")
    reader = vm.S3Reader(consumer_registry())
    assert reader.get("lazy", "k")[0] == OrderV2(id="l", qty=1)
