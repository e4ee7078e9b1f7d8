"""The codec: msgspec JSON for msgspec Structs, pydantic's own JSON validator for its models.

One :class:`ModelCodec` is built per registered (type, version) model, so every decoder is
made once. pydantic is never imported here: a model is recognised by its attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = [
    "ModelCodec",
    "decode_any",
    "describe_misfit",
    "encode_any",
    "is_model_class",
    "refuses_envelope",
]

_json_encoder = msgspec.json.Encoder()
encode_any: Callable[[Any], bytes] = _json_encoder.encode
decode_any: Callable[[bytes | str], Any] = msgspec.json.Decoder().decode

DecodeErrors = (msgspec.DecodeError, ValueError)


def is_pydantic_model(cls: object) -> bool:
    return (
        isinstance(cls, type)
        and getattr(cls, "__pydantic_validator__", None) is not None
        and hasattr(cls, "model_validate_json")
    )


def is_model_class(cls: object) -> bool:
    """True for msgspec Struct classes and pydantic v2 models."""
    return (isinstance(cls, type) and issubclass(cls, msgspec.Struct)) or is_pydantic_model(cls)


def refuses_envelope(model: Any) -> bool:
    """True when decoding an embedded envelope (``{"vmsg": {...}, "data": {...}}``) into the
    msgspec Struct ``model`` must fail: it forbids unknown fields, or it requires a field
    the envelope does not have. Other models: False (nothing is assumed)."""
    if not (isinstance(model, type) and issubclass(model, msgspec.Struct)):
        return False
    if model.__struct_config__.forbid_unknown_fields:
        return True
    return any(
        f.required and f.encode_name not in ("vmsg", "data") for f in msgspec.structs.fields(model)
    )


_QUOTED = re.compile(r" ?'.*'")


def describe_misfit(exc: BaseException) -> str:
    """Why a payload did not fit a model, by field path and kind, never with its values.

    msgspec quotes an offending value in some messages (``Invalid enum value 'x'``): quoted
    text is dropped. pydantic's errors are listed as ``location: error type``.
    """
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic's ValidationError
        try:
            found = errors(include_input=False, include_url=False, include_context=False)
        except TypeError:
            return type(exc).__name__
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['type']}" if e["loc"] else str(e["type"])
            for e in found
        )
    if isinstance(exc, msgspec.DecodeError):
        return _QUOTED.sub("", str(exc))
    return type(exc).__name__


class ModelCodec:
    """How to turn bytes or builtins into one model, and back."""

    __slots__ = (
        "decode",
        "encode",
        "forbids_unknown",
        "from_builtins",
        "kind",
        "model",
        "to_builtins",
        "wire_fields",
    )

    def __init__(self, model: type[Any]) -> None:
        self.model = model
        if isinstance(model, type) and issubclass(model, msgspec.Struct):
            self.kind = "msgspec"
            self.decode: Callable[[bytes | str], Any] = msgspec.json.Decoder(model).decode
            self.encode: Callable[[Any], bytes] = encode_any

            def from_builtins(data: Any) -> Any:
                return msgspec.convert(data, model)

            self.from_builtins: Callable[[Any], Any] = from_builtins
            self.to_builtins: Callable[[Any], Any] = msgspec.to_builtins
            cfg = model.__struct_config__
            self.forbids_unknown: bool = bool(cfg.forbid_unknown_fields)
            fields = set(model.__struct_encode_fields__)
            if cfg.tag_field is not None:  # a tagged Struct needs its tag to decode
                fields.add(cfg.tag_field)
            self.wire_fields: frozenset[str] = frozenset(fields)
        elif is_pydantic_model(model):
            self.kind = "pydantic"
            validator = model.__pydantic_validator__
            serializer = model.__pydantic_serializer__
            self.decode = validator.validate_json

            def pyd_encode(msg: Any) -> bytes:
                out: bytes = serializer.to_json(msg, by_alias=True)
                return out

            def pyd_from_builtins(data: Any) -> Any:
                # Through JSON, so an upgraded dict is validated exactly as a body would be
                # (strict models reject in Python mode what JSON mode accepts).
                return validator.validate_json(encode_any(data))

            def pyd_to_builtins(msg: Any) -> Any:
                return msg.model_dump(mode="json", by_alias=True)

            self.encode = pyd_encode
            self.from_builtins = pyd_from_builtins
            self.to_builtins = pyd_to_builtins
            self.forbids_unknown = model.model_config.get("extra") == "forbid"
            names: set[str] = set()
            for name, field in model.model_fields.items():
                names.add(name)
                if field.alias:
                    names.add(field.alias)
                if isinstance(field.validation_alias, str):
                    names.add(field.validation_alias)
            self.wire_fields = frozenset(names)
        else:  # pragma: no cover - guarded by is_model_class at registration
            raise TypeError(f"not a msgspec Struct or pydantic model: {model!r}")

    def decode_tolerant(self, body: bytes) -> Any:
        """Decode a newer payload, ignoring the fields this model does not know."""
        if not self.forbids_unknown:
            return self.decode(body)
        data = decode_any(body)
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k in self.wire_fields}
        return self.from_builtins(data)

    def json_schema(self) -> dict[str, Any]:
        """The model's JSON schema (used by schema locks)."""
        if self.kind == "msgspec":
            return msgspec.json.schema(self.model)
        schema: dict[str, Any] = self.model.model_json_schema()
        return schema
