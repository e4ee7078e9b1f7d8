"""The codec: one ModelCodec per model, msgspec and pydantic behaving alike."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import msgspec
import pydantic
import pytest

from versioned_msgs._core.codec import ModelCodec, decode_any, encode_any, is_model_class


class Rich(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    created_at: datetime.datetime
    raw: bytes
    uid: uuid.UUID
    amount: decimal.Decimal
    tags: list[str] = []


RICH = Rich(
    created_at=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    raw=b"\x00ab",
    uid=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    amount=decimal.Decimal("1.50"),
    tags=["a"],
)
RICH_JSON = (
    b'{"createdAt":"2024-01-02T03:04:05Z","raw":"AGFi",'
    b'"uid":"12345678-1234-5678-1234-567812345678","amount":"1.50","tags":["a"]}'
)


class StrictPd(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="forbid")
    at: datetime.datetime
    count: int = pydantic.Field(alias="Count")


class LoosePd(pydantic.BaseModel):
    name: str
    size: int = pydantic.Field(validation_alias="Size")


def test_is_model_class() -> None:
    """msgspec Struct classes and pydantic models are models; instances and others are not."""
    assert is_model_class(Rich)
    assert is_model_class(StrictPd)
    assert not is_model_class(RICH)
    assert not is_model_class(dict)
    assert not is_model_class(pydantic.BaseModel.__new__)


def test_constructor_refuses_other_classes() -> None:
    """A ModelCodec can only be built for a model class."""
    with pytest.raises(TypeError, match="not a msgspec Struct or pydantic model"):
        ModelCodec(dict)


def test_msgspec_codec_round_trips_rich_types() -> None:
    """Bytes and builtins paths agree for datetimes, bytes, UUIDs, decimals and renames."""
    codec = ModelCodec(Rich)
    assert codec.kind == "msgspec"
    assert codec.encode(RICH) == RICH_JSON
    assert codec.decode(RICH_JSON) == RICH
    builtins = codec.to_builtins(RICH)
    assert builtins == msgspec.json.decode(RICH_JSON)
    assert codec.from_builtins(builtins) == RICH


def test_msgspec_wire_fields_use_encoded_names() -> None:
    """wire_fields are the names on the wire (after rename), used to drop unknown fields."""
    codec = ModelCodec(Rich)
    assert codec.forbids_unknown
    assert codec.wire_fields == {"createdAt", "raw", "uid", "amount", "tags"}


def test_msgspec_tolerant_decode_drops_unknown_fields() -> None:
    """A model that forbids unknown fields reads a newer payload when asked to tolerate it."""
    codec = ModelCodec(Rich)
    newer = RICH_JSON[:-1] + b',"colour":"red"}'
    with pytest.raises(msgspec.ValidationError):
        codec.decode(newer)
    assert codec.decode_tolerant(newer) == RICH


def test_lenient_msgspec_model_tolerates_by_itself() -> None:
    """Without forbid_unknown_fields the ordinary decoder is used for tolerance."""

    class Lenient(msgspec.Struct):
        a: int

    codec = ModelCodec(Lenient)
    assert not codec.forbids_unknown
    assert codec.decode_tolerant(b'{"a":1,"b":2}') == Lenient(a=1)


def test_pydantic_codec_uses_aliases_both_ways() -> None:
    """pydantic models encode by alias and decode from JSON with their own validator."""
    codec = ModelCodec(StrictPd)
    assert codec.kind == "pydantic"
    msg = StrictPd(at=datetime.datetime(2024, 1, 2), Count=3)
    body = codec.encode(msg)
    assert body == b'{"at":"2024-01-02T00:00:00","Count":3}'
    assert codec.decode(body) == msg
    assert codec.to_builtins(msg) == {"at": "2024-01-02T00:00:00", "Count": 3}


def test_pydantic_from_builtins_validates_like_json() -> None:
    """A strict model accepts an ISO string in a dict, exactly as it would in a body."""
    codec = ModelCodec(StrictPd)
    msg = codec.from_builtins({"at": "2024-01-02T00:00:00", "Count": 3})
    assert msg == StrictPd(at=datetime.datetime(2024, 1, 2), Count=3)
    with pytest.raises(pydantic.ValidationError):
        StrictPd.model_validate({"at": "2024-01-02T00:00:00", "Count": 3})


def test_pydantic_forbid_and_wire_fields() -> None:
    """extra='forbid' is detected; names and aliases are both wire fields."""
    strict = ModelCodec(StrictPd)
    assert strict.forbids_unknown
    assert strict.wire_fields == {"at", "count", "Count"}
    loose = ModelCodec(LoosePd)
    assert not loose.forbids_unknown
    assert loose.wire_fields == {"name", "size", "Size"}


def test_pydantic_tolerant_decode() -> None:
    """Unknown fields of a newer payload are dropped before a forbidding model validates."""
    codec = ModelCodec(StrictPd)
    body = b'{"at":"2024-01-02T00:00:00","Count":3,"new":true}'
    with pytest.raises(pydantic.ValidationError):
        codec.decode(body)
    assert codec.decode_tolerant(body) == StrictPd(at=datetime.datetime(2024, 1, 2), Count=3)


def test_tolerant_decode_of_a_non_object_is_left_to_the_model() -> None:
    """A newer payload that is not an object is not filtered; the model rejects it."""
    codec = ModelCodec(StrictPd)
    with pytest.raises(ValueError, match="Input should be an object"):
        codec.decode_tolerant(b"[1]")


@pytest.mark.parametrize("model", [Rich, StrictPd])
def test_json_schema(model: type[Any]) -> None:
    """Both kinds expose a JSON schema (for schema locks)."""
    schema = ModelCodec(model).json_schema()
    assert isinstance(schema, dict)
    assert schema  # a real schema, not an empty placeholder
    text = encode_any(schema)
    assert b"properties" in text


def test_any_value_helpers() -> None:
    """encode_any/decode_any are compact msgspec JSON."""
    assert encode_any({"a": [1, "x", None]}) == b'{"a":[1,"x",null]}'
    assert decode_any(b' {"a" : 1} ') == {"a": 1}
