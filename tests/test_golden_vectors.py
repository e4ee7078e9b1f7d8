"""Golden vectors of stamp spec 1 (tests/golden/): writing and reading, byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import versioned_msgs as vm
from versioned_msgs._core.envelope import embed, unembed
from versioned_msgs._core.errors import shown

GOLDEN = Path(__file__).parent / "golden"

# Released vectors never change meaning (tests/golden/README.md). Adding a case changes a
# file's hash: update it here on purpose, never to make an edited case pass.
PINNED_SHA256 = {
    "message-attributes.json": "691316e5727c50fec3a9dbd1e5a82768ced0a44583494f3d1cef191b9cbc6e50",
    "s3-metadata.json": "b4565ca8a0cff04a69b2037db53065fc0a70ca75e4bc952c17e6d76129400aa8",
    "envelope.json": "ad9c6059b12ee406704eb387a98da53c3482b012b3c7aac76a426b7fc7749a12",
    "rejected.json": "9eaf0b26e0f42c5be375bd53a93e13df2fab94842ab413cf920a6472f89eb2fb",
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    assert data["spec"] == 1
    return data


def stamp_of(fields: dict[str, Any] | None) -> vm.Stamp | None:
    return None if fields is None else vm.Stamp(**fields)


def cases(name: str, section: str = "cases") -> list[Any]:
    return [pytest.param(c, id=c["name"]) for c in load(name)[section]]


def read_back(case: dict[str, Any]) -> vm.Stamp | None:
    return stamp_of(case.get("reads_as", case["stamp"]))


@pytest.mark.parametrize("name", sorted(PINNED_SHA256))
def test_vector_files_are_pinned(name: str) -> None:
    """A released vector file is byte-identical to the one pinned here."""
    digest = hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest()
    assert digest == PINNED_SHA256[name]


def test_every_vector_file_is_pinned() -> None:
    """No vector file escapes the pin."""
    assert sorted(p.name for p in GOLDEN.glob("*.json")) == sorted(PINNED_SHA256)


# ---- message attributes -----------------------------------------------------------------


@pytest.mark.parametrize("case", cases("message-attributes.json"))
def test_attributes_written_exactly(case: dict[str, Any]) -> None:
    """to_message_attributes gives the vector: same names, DataTypes, values and order."""
    stamp = stamp_of(case["stamp"])
    assert stamp is not None
    written = stamp.to_message_attributes()
    assert json.dumps(written) == json.dumps(case["attributes"])


@pytest.mark.parametrize("case", cases("message-attributes.json"))
def test_attributes_read_in_every_shape(case: dict[str, Any]) -> None:
    """The vector reads back to its stamp in the boto3, Lambda SQS and SNS shapes."""
    boto3_shape: dict[str, dict[str, str]] = case["attributes"]
    lambda_shape = {
        k: {
            "stringValue": v["StringValue"],
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": v["DataType"],
        }
        for k, v in boto3_shape.items()
    }
    sns_shape = {
        k: {"Type": v["DataType"], "Value": v["StringValue"]} for k, v in boto3_shape.items()
    }
    for attrs in (boto3_shape, lambda_shape, sns_shape):
        assert vm.Stamp.from_message_attributes(attrs) == read_back(case)


@pytest.mark.parametrize("case", cases("message-attributes.json", "inbound"))
def test_attributes_inbound(case: dict[str, Any]) -> None:
    """Inputs other writers and AWS produce read to the stamp given (None: unversioned)."""
    assert vm.Stamp.from_message_attributes(case["attributes"]) == stamp_of(case["stamp"])


# ---- S3 metadata ------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("s3-metadata.json"))
def test_s3_metadata_written_exactly(case: dict[str, Any]) -> None:
    """to_s3_metadata gives the vector's Metadata; the stamp's content type is the ContentType."""
    stamp = stamp_of(case["stamp"])
    assert stamp is not None
    assert json.dumps(stamp.to_s3_metadata()) == json.dumps(case["metadata"])
    assert stamp.content_type == case["content_type"]


@pytest.mark.parametrize("case", cases("s3-metadata.json"))
def test_s3_metadata_read(case: dict[str, Any]) -> None:
    """Metadata plus ContentType read back to the stamp."""
    got = vm.Stamp.from_s3_metadata(case["metadata"], content_type=case["content_type"])
    assert got == read_back(case)


@pytest.mark.parametrize("case", cases("s3-metadata.json", "inbound"))
def test_s3_metadata_inbound(case: dict[str, Any]) -> None:
    """Defaults, key case and unknown keys are read as the vector says."""
    got = vm.Stamp.from_s3_metadata(case["metadata"], content_type=case["content_type"])
    assert got == stamp_of(case["stamp"])


# ---- embedded envelope ------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("envelope.json"))
def test_envelope_written_exactly(case: dict[str, Any]) -> None:
    """embed and Encoded.embedded produce the vector's bytes exactly."""
    stamp = stamp_of(case["stamp"])
    assert stamp is not None
    data = case["data"].encode()
    expected = case["envelope"].encode()
    assert embed(data, stamp) == expected
    assert vm.Encoded(data, stamp).embedded() == expected


@pytest.mark.parametrize("case", cases("envelope.json"))
def test_envelope_read(case: dict[str, Any]) -> None:
    """unembed splits the vector into its stamp and the payload bytes, untouched."""
    assert unembed(case["envelope"].encode()) == (read_back(case), case["data"].encode())


@pytest.mark.parametrize("case", cases("envelope.json", "inbound"))
def test_envelope_inbound(case: dict[str, Any]) -> None:
    """Envelopes other writers produce, and bodies that are no envelope, read as given."""
    stamp, data = unembed(case["envelope"].encode())
    assert stamp == stamp_of(case["stamp"])
    assert data == case["data"].encode()


# ---- rejected inputs --------------------------------------------------------------------


def _read(carrier: str, raw: Any) -> object:
    if carrier == "attributes":
        return vm.Stamp.from_message_attributes(raw)
    if carrier == "s3":
        return vm.Stamp.from_s3_metadata(raw)
    assert carrier == "envelope"
    return unembed(raw.encode())


@pytest.mark.parametrize("case", cases("rejected.json"))
def test_rejected(case: dict[str, Any]) -> None:
    """Every malformed input raises StampError naming the field and the value found (a long
    value cut to its first characters and its length)."""
    with pytest.raises(vm.StampError) as info:
        _read(case["carrier"], case["input"])
    err = info.value
    assert err.field == case["field"]
    if err.value is None:  # a missing field: the message says what was found instead
        assert str(err).endswith(("found none", "found neither"))
    else:
        assert shown(err.value) in str(err)
        assert len(str(err)) < 400
