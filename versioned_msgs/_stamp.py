"""The stamp (wire format spec 1) and its carriers: message attributes, S3 metadata, envelope.

Everything here is pure: no AWS client, no registry. Stamps are untrusted input, so parsing
is strict and every malformation raises :class:`StampError` naming the field and the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from ._errors import StampError

__all__ = [
    "ATTR_CONTENT_TYPE",
    "ATTR_PRODUCER",
    "ATTR_READABLE_BY",
    "ATTR_TYPE",
    "ATTR_VERSION",
    "JSON",
    "Encoded",
    "Stamp",
    "embed",
    "is_json",
    "unembed",
]

ATTR_TYPE = "vmsg-type"
ATTR_VERSION = "vmsg-version"
ATTR_READABLE_BY = "vmsg-readable-by"
ATTR_PRODUCER = "vmsg-producer"
ATTR_CONTENT_TYPE = "vmsg-content-type"
ATTR_PARKED_REASON = "vmsg-parked-reason"
PREFIX = "vmsg-"

JSON = "application/json"

MAX_VERSION = 2**31 - 1
MAX_PRODUCER = 256
MAX_CONTENT_TYPE = 256

_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_VERSION_RE = re.compile(r"[1-9][0-9]{0,9}")
# A producer is free text for people, but it travels in S3 metadata (ASCII) and in logs:
# printable ASCII only, so a stamp can never smuggle control characters into either.
_PRODUCER_RE = re.compile(r"[\x20-\x7e]{1,256}")
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+(\s*;[\x20-\x7e]*)?")


def is_json(content_type: str) -> bool:
    """True for ``application/json`` and its parameterised or ``+json`` variants."""
    base = content_type.split(";", 1)[0].strip().lower()
    return base == JSON or base.endswith("+json")


def _check_type(value: object, where: str) -> str:
    if not isinstance(value, str) or _TYPE_RE.fullmatch(value) is None:
        raise StampError(
            f"{where}: expected a message type matching [a-z0-9][a-z0-9._-]{{0,127}}, "
            f"got {value!r}",
            field="type",
            value=value,
        )
    return value


def _check_version(value: object, field: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise StampError(
            f"{where}: expected {field} to be a positive integer below 2^31, got {value!r}",
            field=field,
            value=value,
        )
    return value


def _parse_version(text: object, field: str, where: str) -> int:
    """Parse a version written as text: canonical decimal, no sign, no padding, no spaces."""
    if not isinstance(text, str) or _VERSION_RE.fullmatch(text) is None:
        raise StampError(
            f"{where}: expected {field} to be a positive integer below 2^31 written "
            f"canonically (e.g. '2'), got {text!r}",
            field=field,
            value=text,
        )
    value = int(text)
    if value > MAX_VERSION:
        raise StampError(
            f"{where}: expected {field} to be a positive integer below 2^31, got {text!r}",
            field=field,
            value=text,
        )
    return value


def _check_producer(value: object, where: str) -> str:
    if not isinstance(value, str) or _PRODUCER_RE.fullmatch(value) is None:
        raise StampError(
            f"{where}: expected producer to be 1-{MAX_PRODUCER} printable ASCII "
            f"characters, got {value!r}",
            field="producer",
            value=value,
        )
    return value


def _check_content_type(value: object, where: str) -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_CONTENT_TYPE
        or _CONTENT_TYPE_RE.fullmatch(value) is None
    ):
        raise StampError(
            f"{where}: expected content-type to be a media type such as "
            f"'application/json', got {value!r}",
            field="content-type",
            value=value,
        )
    return value


class Stamp(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """What a payload is: message type, format version and who wrote it (immutable).

    ``readable_by`` is the lowest reader version that can decode the payload as-is; it is
    ``None`` when only readers at ``version`` (or newer) can.
    """

    type: str
    version: int
    readable_by: int | None = None
    producer: str | None = None
    content_type: str = JSON

    def __post_init__(self) -> None:
        where = "stamp"
        _check_type(self.type, where)
        _check_version(self.version, "version", where)
        if self.readable_by is not None:
            _check_version(self.readable_by, "readable_by", where)
            if self.readable_by > self.version:
                raise StampError(
                    f"{where}: expected readable_by <= version ({self.version}), "
                    f"got {self.readable_by}",
                    field="readable_by",
                    value=self.readable_by,
                )
        if self.producer is not None:
            _check_producer(self.producer, where)
        _check_content_type(self.content_type, where)

    # ---- carriers, outbound -------------------------------------------------------------

    def _readable_by_on_wire(self) -> int | None:
        rb = self.readable_by
        return None if rb is None or rb == self.version else rb

    def to_message_attributes(self) -> dict[str, dict[str, str]]:
        """The stamp as boto3 SQS/SNS ``MessageAttributes`` (at most 4 in the JSON case)."""
        attrs = {
            ATTR_TYPE: {"DataType": "String", "StringValue": self.type},
            ATTR_VERSION: {"DataType": "Number", "StringValue": str(self.version)},
        }
        rb = self._readable_by_on_wire()
        if rb is not None:
            attrs[ATTR_READABLE_BY] = {"DataType": "Number", "StringValue": str(rb)}
        if self.producer is not None:
            attrs[ATTR_PRODUCER] = {"DataType": "String", "StringValue": self.producer}
        if self.content_type != JSON:
            attrs[ATTR_CONTENT_TYPE] = {"DataType": "String", "StringValue": self.content_type}
        return attrs

    def to_s3_metadata(self) -> dict[str, str]:
        """The stamp as boto3 S3 ``Metadata`` (sent as ``x-amz-meta-vmsg-*``).

        The content type travels as the object's ``ContentType``, not in metadata.
        """
        meta = {ATTR_TYPE: self.type, ATTR_VERSION: str(self.version)}
        rb = self._readable_by_on_wire()
        if rb is not None:
            meta[ATTR_READABLE_BY] = str(rb)
        if self.producer is not None:
            meta[ATTR_PRODUCER] = self.producer
        return meta

    def envelope_header(self) -> dict[str, Any]:
        """The ``vmsg`` object of the embedded envelope."""
        head: dict[str, Any] = {"type": self.type, "version": self.version}
        rb = self._readable_by_on_wire()
        if rb is not None:
            head["readable_by"] = rb
        if self.producer is not None:
            head["producer"] = self.producer
        return head

    # ---- carriers, inbound --------------------------------------------------------------

    @classmethod
    def from_message_attributes(cls, attrs: Mapping[str, Any] | None) -> Stamp | None:
        """Read a stamp from SQS/SNS message attributes.

        Accepts the boto3 shape (``DataType``/``StringValue``), Lambda's SQS shape
        (``dataType``/``stringValue``) and SNS's envelope shape (``Type``/``Value``).
        Returns ``None`` when no stamp is present; raises :class:`StampError` when one is
        malformed. Unknown ``vmsg-*`` attributes are ignored so the spec can grow.
        """
        if not attrs:
            return None
        raw_type = attrs.get(ATTR_TYPE)
        raw_version = attrs.get(ATTR_VERSION)
        if raw_type is None and raw_version is None:
            if ATTR_READABLE_BY in attrs or ATTR_PRODUCER in attrs:
                raise StampError(
                    "message attributes: expected vmsg-type and vmsg-version beside the "
                    "other vmsg-* attributes, found neither",
                    field="type",
                    value=None,
                )
            return None
        key = (
            _attr_pair(ATTR_TYPE, raw_type),
            _attr_pair(ATTR_VERSION, raw_version),
            _attr_pair(ATTR_READABLE_BY, attrs.get(ATTR_READABLE_BY)),
            _attr_pair(ATTR_PRODUCER, attrs.get(ATTR_PRODUCER)),
            _attr_pair(ATTR_CONTENT_TYPE, attrs.get(ATTR_CONTENT_TYPE)),
        )
        cached = _ATTR_CACHE.get(key)
        if cached is not None:
            return cached
        t, v, rb, producer, ctype = key
        w = _WHERE_ATTRS
        if t is None or v is None:
            missing, present = (ATTR_TYPE, ATTR_VERSION) if t is None else (ATTR_VERSION, ATTR_TYPE)
            raise StampError(
                f"{w}: expected {missing} beside {present}, found none",
                field=missing[5:],
                value=None,
            )
        stamp = cls(
            type=_check_type(_attr_value(ATTR_TYPE, t, "String"), w),
            version=_parse_version(_attr_value(ATTR_VERSION, v, "Number"), "version", w),
            readable_by=None
            if rb is None
            else _parse_version(_attr_value(ATTR_READABLE_BY, rb, "Number"), "readable_by", w),
            producer=None
            if producer is None
            else _check_producer(_attr_value(ATTR_PRODUCER, producer, "String"), w),
            content_type=JSON
            if ctype is None
            else _check_content_type(_attr_value(ATTR_CONTENT_TYPE, ctype, "String"), w),
        )
        if len(_ATTR_CACHE) >= _CACHE_MAX:
            _ATTR_CACHE.clear()
        _ATTR_CACHE[key] = stamp
        return stamp

    @classmethod
    def from_s3_metadata(
        cls, metadata: Mapping[str, str] | None, *, content_type: str | None = None
    ) -> Stamp | None:
        """Read a stamp from S3 user metadata (boto3 ``Metadata``; keys compared lowercased).

        ``content_type`` is the object's ``ContentType``; JSON is assumed when absent.
        Returns ``None`` when no stamp is present.
        """
        if not metadata:
            return None
        low = {k.lower(): v for k, v in metadata.items()}
        for k in low:
            # Some proxies rewrite hyphens; an underscore key means a mangled stamp.
            if k.startswith("vmsg_"):
                raise StampError(
                    f"S3 metadata: expected hyphenated vmsg-* keys, got {k!r}",
                    field=k[5:],
                    value=low[k],
                )
        raw_type = low.get(ATTR_TYPE)
        raw_version = low.get(ATTR_VERSION)
        where = "S3 metadata"
        if raw_type is None and raw_version is None:
            return None
        if raw_type is None:
            raise StampError(
                f"{where}: expected {ATTR_TYPE} beside {ATTR_VERSION}, found none",
                field="type",
                value=None,
            )
        if raw_version is None:
            raise StampError(
                f"{where}: expected {ATTR_VERSION} beside {ATTR_TYPE}, found none",
                field="version",
                value=None,
            )
        rb = low.get(ATTR_READABLE_BY)
        producer = low.get(ATTR_PRODUCER)
        ctype = content_type
        # S3 answers binary/octet-stream for objects written without a ContentType.
        if ctype is None or ctype in ("", "binary/octet-stream"):
            ctype = JSON
        return cls(
            type=_check_type(raw_type, where),
            version=_parse_version(raw_version, "version", where),
            readable_by=None if rb is None else _parse_version(rb, "readable_by", where),
            producer=None if producer is None else _check_producer(producer, where),
            content_type=_check_content_type(ctype, where),
        )


_WHERE_ATTRS = "message attributes"
_CACHE_MAX = 4096
_ATTR_CACHE: dict[tuple[object, ...], Stamp] = {}


def _attr_pair(name: str, attr: object) -> tuple[object, object] | None:
    """(data type, string value) of one attribute entry, in any of the three shapes."""
    if attr is None:
        return None
    if not isinstance(attr, Mapping):
        raise StampError(
            f"{_WHERE_ATTRS}: expected {name} to be an attribute object with a data type "
            f"and a string value, got {attr!r}",
            field=name[5:],
            value=attr,
        )
    dtype = attr.get("DataType")
    if dtype is None:
        dtype = attr.get("dataType")
        if dtype is None:
            dtype = attr.get("Type")
    value = attr.get("StringValue")
    if value is None:
        value = attr.get("stringValue")
        if value is None:
            value = attr.get("Value")
    return dtype, value


def _attr_value(name: str, pair: tuple[object, object], family: str) -> str:
    """Check one (data type, value) pair and return the value."""
    dtype, value = pair
    if not isinstance(dtype, str) or dtype.split(".", 1)[0] not in ("String", "Number"):
        raise StampError(
            f"{_WHERE_ATTRS}: expected {name} to have DataType {family}, got {dtype!r}",
            field=name[5:],
            value=dtype,
        )
    if not isinstance(value, str):
        raise StampError(
            f"{_WHERE_ATTRS}: expected {name} to carry a string value, got {value!r}",
            field=name[5:],
            value=value,
        )
    return value


# ---- the embedded envelope ------------------------------------------------------------

_ENVELOPE_START = re.compile(rb'\s*\{\s*"vmsg"\s*:')


class _Envelope(msgspec.Struct):
    vmsg: Any
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))


_envelope_decoder = msgspec.json.Decoder(_Envelope)


def embed(body: bytes, stamp: Stamp) -> bytes:
    """Wrap a JSON body in the embedded envelope ``{"vmsg": {...}, "data": <body>}``."""
    if not is_json(stamp.content_type):
        raise StampError(
            f"envelope: expected a JSON payload to embed, got content type {stamp.content_type!r}",
            field="content-type",
            value=stamp.content_type,
        )
    head = msgspec.json.encode(stamp.envelope_header())
    return b'{"vmsg":' + head + b',"data":' + body + b"}"


def looks_embedded(body: bytes | bytearray | memoryview) -> bool:
    """True when the body is a JSON object whose first key is ``vmsg``."""
    return _ENVELOPE_START.match(body) is not None


def unembed(body: bytes | bytearray | memoryview) -> tuple[Stamp | None, bytes]:
    """Split an embedded envelope into its stamp and its data bytes.

    A body that is not an envelope comes back unchanged with ``None``.
    """
    if _ENVELOPE_START.match(body) is None:
        return None, bytes(body)
    where = "embedded envelope"
    try:
        env = _envelope_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise StampError(
            f"{where}: expected a JSON object with 'vmsg' and 'data', got invalid JSON ({exc})",
            field="vmsg",
            value=None,
        ) from None
    data = bytes(env.data)
    if not data:
        raise StampError(
            f"{where}: expected a 'data' member beside 'vmsg', found none",
            field="data",
            value=None,
        )
    head = env.vmsg
    if not isinstance(head, dict):
        raise StampError(
            f"{where}: expected 'vmsg' to be an object, got {head!r}",
            field="vmsg",
            value=head,
        )
    stamp = Stamp(
        type=_check_type(head.get("type"), where),
        version=_check_version(head.get("version"), "version", where),
        readable_by=None
        if head.get("readable_by") is None
        else _check_version(head["readable_by"], "readable_by", where),
        producer=None if head.get("producer") is None else _check_producer(head["producer"], where),
    )
    return stamp, data


class Encoded(msgspec.Struct, frozen=True, gc=False):
    """An encoded payload and its stamp: what :meth:`Registry.encode` returns."""

    body: bytes
    stamp: Stamp

    def embedded(self) -> bytes:
        """The body wrapped in the embedded envelope (Kinesis, EventBridge, ``embed=True``)."""
        return embed(self.body, self.stamp)
