"""The stamp (wire format spec 1) and its carriers: message attributes, S3 metadata, envelope.

Everything here is pure: no AWS client, no registry. Stamps are untrusted input, so parsing
is strict and every malformation raises :class:`StampError` naming the field and the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from .attributes import (
    ATTR_CONTENT_TYPE,
    ATTR_PRODUCER,
    ATTR_READABLE_BY,
    ATTR_TYPE,
    ATTR_VERSION,
    attribute_text,
)
from .errors import StampError, shown

__all__ = ["JSON", "MAX_VERSION", "Stamp", "is_json"]

JSON = "application/json"

MAX_VERSION = 2**31 - 1
MAX_PRODUCER = 256
MAX_CONTENT_TYPE = 256

TYPE_PATTERN = "[a-z0-9][a-z0-9._-]{0,127}"
_TYPE_RE = re.compile(TYPE_PATTERN)
# Canonical decimal: no sign, no leading zero, no spaces, no exponent; at most 10 digits,
# the range check below does the rest.
_VERSION_RE = re.compile(r"[1-9][0-9]{0,9}")
# A producer is free text for people, but it travels in S3 metadata (ASCII) and in logs:
# printable ASCII only, so a stamp can never smuggle control characters into either.
_PRODUCER_RE = re.compile(r"[\x20-\x7e]{1,256}")
# ASCII only: it becomes an HTTP header (S3 ContentType), where a newline or a non-ASCII
# letter has no business.
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+( *;[\x20-\x7e]*)?", re.ASCII)


def is_json(content_type: str) -> bool:
    """True for ``application/json`` and its parameterised or ``+json`` variants."""
    base = content_type.split(";", 1)[0].strip().lower()
    return base == JSON or base.endswith("+json")


# Every check takes ``where`` (which carrier) and ``key`` (the name the field has there, e.g.
# ``vmsg-version`` or ``vmsg.version``); ``field`` on the error is always the Stamp attribute.


def _check_type(value: object, where: str, key: str = "type") -> str:
    if not isinstance(value, str) or _TYPE_RE.fullmatch(value) is None:
        raise StampError(
            f"{where}: expected {key} to be a message type matching {TYPE_PATTERN}, "
            f"got {shown(value)}",
            field="type",
            value=value,
        )
    return value


def _check_version(value: object, field: str, where: str, key: str | None = None) -> int:
    """Check a version given as a number (constructor, embedded envelope)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise StampError(
            f"{where}: expected {key or field} to be a positive integer below 2^31, "
            f"got {shown(value)}",
            field=field,
            value=value,
        )
    return value


def _parse_version(text: object, field: str, where: str, key: str | None = None) -> int:
    """Parse a version written as text: canonical decimal, no sign, no padding, no spaces."""
    if not isinstance(text, str) or _VERSION_RE.fullmatch(text) is None or int(text) > MAX_VERSION:
        raise StampError(
            f"{where}: expected {key or field} to be a positive integer below 2^31 in "
            f"canonical decimal (e.g. '2'), got {shown(text)}",
            field=field,
            value=text,
        )
    return int(text)


def _check_readable_by(readable_by: int, version: int, where: str, key: str) -> int:
    if readable_by > version:
        raise StampError(
            f"{where}: expected {key} to be at most the version ({version}), got {readable_by}",
            field="readable_by",
            value=readable_by,
        )
    return readable_by


def _check_producer(value: object, where: str, key: str = "producer") -> str:
    if not isinstance(value, str) or _PRODUCER_RE.fullmatch(value) is None:
        raise StampError(
            f"{where}: expected {key} to be 1-{MAX_PRODUCER} printable ASCII characters, "
            f"got {shown(value)}",
            field="producer",
            value=value,
        )
    return value


def _check_content_type(value: object, where: str, key: str = "content_type") -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_CONTENT_TYPE
        or _CONTENT_TYPE_RE.fullmatch(value) is None
    ):
        raise StampError(
            f"{where}: expected {key} to be a media type such as 'application/json', "
            f"got {shown(value)}",
            field="content_type",
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
            _check_readable_by(self.readable_by, self.version, where, "readable_by")
        if self.producer is not None:
            _check_producer(self.producer, where)
        _check_content_type(self.content_type, where)

    # ---- carriers, outbound -------------------------------------------------------------

    def _readable_by_on_wire(self) -> int | None:
        rb = self.readable_by
        return None if rb is None or rb == self.version else rb

    def to_message_attributes(self) -> dict[str, dict[str, str]]:
        """The stamp as boto3 SQS/SNS ``MessageAttributes`` (at most 4 in the JSON case).

        A new dict of new dicts on every call: the caller may add its own attributes to it
        or change any entry without affecting the next call.
        """
        # This runs once per message sent, nearly always for the same stamp as the call
        # before. The attribute values are worked out once per stamp and cached as strings
        # (immutable, so sharing them is safe); the last stamp is recognised by identity,
        # which costs much less than hashing a Stamp. The dicts themselves are built afresh
        # (as fast as copying cached ones, measured), so a caller can share nothing of ours.
        last = _last_attr_values
        if last[0] is not self:
            last = self._attribute_values()
        _, type_text, version_text, optional = last
        attrs = {
            ATTR_TYPE: {"DataType": "String", "StringValue": type_text},
            ATTR_VERSION: {"DataType": "Number", "StringValue": version_text},
        }
        if optional is not None:
            for name, data_type, text in optional:
                attrs[name] = {"DataType": data_type, "StringValue": text}
        return attrs

    def _attribute_values(self) -> _AttrValues:
        """This stamp's attribute values, cached; they become the last stamp's values."""
        global _last_attr_values
        values = _ATTR_VALUES.get(self)
        if values is None:
            optional: list[tuple[str, str, str]] = []
            rb = self._readable_by_on_wire()
            if rb is not None:
                optional.append((ATTR_READABLE_BY, "Number", str(rb)))
            if self.producer is not None:
                optional.append((ATTR_PRODUCER, "String", self.producer))
            if self.content_type != JSON:
                optional.append((ATTR_CONTENT_TYPE, "String", self.content_type))
            values = (self, self.type, str(self.version), tuple(optional) or None)
            if len(_ATTR_VALUES) >= _CACHE_MAX:  # many distinct stamps (producers): start over
                _ATTR_VALUES.clear()
            _ATTR_VALUES[self] = values
        # One tuple, replaced whole: a concurrent caller sees a stamp with its own values.
        _last_attr_values = values
        return values

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
        (``dataType``/``stringValue``) and SNS's shape (``Type``/``Value``).
        Returns ``None`` when no stamp is present; raises :class:`StampError` when one is
        malformed or incomplete. Unknown ``vmsg-*`` attributes are ignored so the spec can grow.
        """
        if not attrs:
            return None
        # This runs once per record of every batch, so it avoids work twice over: entries
        # equal to those of the previous stamp read (the common case in a batch) return that
        # stamp after one C-level comparison; otherwise shape and DataType are checked and
        # the values key a cache, so each distinct stamp is parsed once.
        try:
            get = attrs.get
        except AttributeError:  # attributes of an untrusted event: a list, a string...
            raise StampError(
                "message attributes: expected an object of attribute names to values, got "
                f"{type(attrs).__name__}",
                field=None,
                value=attrs,
            ) from None
        entries = (
            get(ATTR_TYPE),
            get(ATTR_VERSION),
            get(ATTR_READABLE_BY),
            get(ATTR_PRODUCER),
            get(ATTR_CONTENT_TYPE),
        )
        last = _last[0]
        if last is not None and entries == last[0]:
            return last[1]
        t, v, rb, producer, ctype = entries
        key = (
            None if t is None else _attr_string(ATTR_TYPE, t, "String"),
            None if v is None else _attr_string(ATTR_VERSION, v, "Number"),
            None if rb is None else _attr_string(ATTR_READABLE_BY, rb, "Number"),
            None if producer is None else _attr_string(ATTR_PRODUCER, producer, "String"),
            None if ctype is None else _attr_string(ATTR_CONTENT_TYPE, ctype, "String"),
        )
        stamp = _ATTR_CACHE.get(key)
        if stamp is None:
            w = "message attributes"
            ts, vs, rbs, ps, cs = key
            if ts is None or vs is None:
                _require_pair(w, ts is not None, vs is not None, key[2:], _OPTIONAL_ATTRS)
                return None
            stamp = _from_text(w, ts, vs, rbs, ps, cs, ATTR_CONTENT_TYPE)
            if len(_ATTR_CACHE) >= _CACHE_MAX:
                _ATTR_CACHE.clear()
            _ATTR_CACHE[key] = stamp
        # Copies: a caller may mutate its attribute entries after this call.
        _last[0] = (tuple(None if e is None else dict(e) for e in entries), stamp)
        return stamp

    @classmethod
    def from_s3_metadata(
        cls, metadata: Mapping[str, str] | None, *, content_type: str | None = None
    ) -> Stamp | None:
        """Read a stamp from S3 user metadata (boto3 ``Metadata``; keys compared lowercased).

        ``content_type`` is the object's ``ContentType``; JSON is assumed when it is absent
        or S3's default ``binary/octet-stream``. Returns ``None`` when no stamp is present;
        raises :class:`StampError` when one is malformed or incomplete.
        """
        if not metadata:
            return None
        where = "S3 metadata"
        low = {str(k).lower(): v for k, v in metadata.items()}
        for k in _MANGLED_KEYS:
            # Some proxies rewrite hyphens to underscores: that stamp cannot be trusted.
            if k in low:
                field = k[5:]
                raise StampError(
                    f"{where}: expected the key vmsg-{field.replace('_', '-')}, got "
                    f"{k!r} = {low[k]!r}",
                    field=field,
                    value=low[k],
                )
        t = low.get(ATTR_TYPE)
        v = low.get(ATTR_VERSION)
        rb = low.get(ATTR_READABLE_BY)
        producer = low.get(ATTR_PRODUCER)
        if t is None or v is None:
            _require_pair(where, t is not None, v is not None, (rb, producer), _OPTIONAL_META)
            return None
        ctype = content_type
        # S3 answers binary/octet-stream for objects written without a ContentType.
        if ctype is None or ctype in ("", "binary/octet-stream"):
            ctype = JSON
        # Each distinct set of texts is parsed once (the stamp depends on nothing else).
        key = (t, v, rb, producer, ctype)
        if not all(type(x) is str or x is None for x in key):
            return _from_text(where, t, v, rb, producer, ctype, "ContentType")
        stamp = _ATTR_CACHE.get(key)
        if stamp is None:
            stamp = _from_text(where, t, v, rb, producer, ctype, "ContentType")
            if len(_ATTR_CACHE) >= _CACHE_MAX:
                _ATTR_CACHE.clear()
            _ATTR_CACHE[key] = stamp
        return stamp


def _from_text(
    where: str,
    t: str,
    v: str,
    rb: str | None,
    producer: str | None,
    content_type: str | None,
    content_type_key: str,
) -> Stamp:
    """Build a stamp from the text fields of an attribute or metadata carrier."""
    version = _parse_version(v, "version", where, ATTR_VERSION)
    return Stamp(
        type=_check_type(t, where, ATTR_TYPE),
        version=version,
        readable_by=None
        if rb is None
        else _check_readable_by(
            _parse_version(rb, "readable_by", where, ATTR_READABLE_BY),
            version,
            where,
            ATTR_READABLE_BY,
        ),
        producer=None if producer is None else _check_producer(producer, where, ATTR_PRODUCER),
        content_type=JSON
        if content_type is None
        else _check_content_type(content_type, where, content_type_key),
    )


_CACHE_MAX = 4096
_ATTR_CACHE: dict[tuple[str | None, ...], Stamp] = {}
# Stamp -> (that stamp, the values of its message attributes: type, version, then
# (name, DataType, value) of each optional one in order, or None when there is none).
# The last stamp's values are also kept apart, in _last_attr_values, so the common case
# (the same stamp again) skips hashing the Stamp.
_AttrValues = tuple[Stamp | None, str, str, tuple[tuple[str, str, str], ...] | None]
_ATTR_VALUES: dict[Stamp, _AttrValues] = {}
_last_attr_values: _AttrValues = (None, "", "", None)
# The attribute entries of the last stamp read from message attributes, and that stamp;
# replaced as one tuple, so a concurrent reader never sees entries and a stamp that differ.
_last: list[tuple[tuple[Any, ...], Stamp] | None] = [None]
_OPTIONAL_ATTRS = (ATTR_READABLE_BY, ATTR_PRODUCER, ATTR_CONTENT_TYPE)
_OPTIONAL_META = (ATTR_READABLE_BY, ATTR_PRODUCER)
_MANGLED_KEYS = ("vmsg_type", "vmsg_version", "vmsg_readable_by", "vmsg_producer")


def _require_pair(
    where: str,
    has_type: bool,
    has_version: bool,
    others: tuple[object, ...],
    other_names: tuple[str, ...],
) -> None:
    """Raise unless type and version are both absent along with every other stamp field."""
    if has_type:
        raise StampError(
            f"{where}: expected {ATTR_VERSION} beside {ATTR_TYPE}, found none",
            field="version",
            value=None,
        )
    if has_version:
        raise StampError(
            f"{where}: expected {ATTR_TYPE} beside {ATTR_VERSION}, found none",
            field="type",
            value=None,
        )
    present = [name for name, value in zip(other_names, others, strict=True) if value is not None]
    if present:
        raise StampError(
            f"{where}: expected {ATTR_TYPE} and {ATTR_VERSION} beside {', '.join(present)}, "
            "found neither",
            field="type",
            value=None,
        )


def _attr_string(name: str, attr: object, family: str) -> str | None:
    """The string value of one attribute entry in any of the three shapes (None if absent).

    ``family`` is the DataType required: ``String`` or ``Number`` (custom labels such as
    ``Number.int`` belong to their family); ``Binary`` never carries a stamp field.
    """
    if attr is None:
        return None
    if attr.__class__ is not dict and not isinstance(attr, Mapping):  # dict: skip the ABC check
        raise StampError(
            f"message attributes: expected {name} to be an attribute object with a DataType "
            f"and a StringValue, got {shown(attr)}",
            field=_field(name),
            value=attr,
        )
    dtype, value = attribute_text(attr)
    if dtype != family and not (isinstance(dtype, str) and dtype.startswith(family + ".")):
        raise StampError(
            f"message attributes: expected {name} to have DataType {family}, got {shown(dtype)}",
            field=_field(name),
            value=dtype,
        )
    if not isinstance(value, str):
        raise StampError(
            f"message attributes: expected {name} to carry a string value, got {shown(value)}",
            field=_field(name),
            value=value,
        )
    return value


def _field(name: str) -> str:
    """The stamp field an attribute name carries: ``vmsg-readable-by`` -> ``readable_by``."""
    return name[5:].replace("-", "_")
