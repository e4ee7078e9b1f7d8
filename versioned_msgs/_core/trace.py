"""Trace context carried beside a message: W3C ``traceparent``/``tracestate`` and X-Ray's
``AWSTraceHeader``, parsed strictly and written exactly.

Pure: no OpenTelemetry, no AWS client. Trace headers are untrusted input that must never
cost a message its delivery, so every reader here returns ``None`` for anything malformed
instead of raising: a record with a broken trace header is processed as if it had none.
The OpenTelemetry glue (reading the active span, starting consumer spans) lives in
``_aws/otel.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "AWS_TRACE_HEADER",
    "TRACEPARENT",
    "TRACESTATE",
    "TRACE_NAMES",
    "TraceContext",
    "parse_tracestate",
    "trace_from_attributes",
    "trace_from_envelope",
    "trace_from_metadata",
    "trace_from_record",
]

#: The W3C names, used as they are for message attributes, S3 metadata and the envelope.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_NAMES = (TRACEPARENT, TRACESTATE)
#: The SQS system attribute AWS fills with the sender's X-Ray trace header.
AWS_TRACE_HEADER = "AWSTraceHeader"

# A traceparent of version 00 is exactly 55 characters; later versions may append fields
# after a '-', which a version-00 reader ignores. Anything longer than this is refused
# unread (untrusted input).
_MAX_TRACEPARENT = 512
# tracestate: at most 32 members; a vendor must pass on at least 512 characters. Headers
# longer than this are dropped unread rather than parsed.
_MAX_TRACESTATE = 8192
_MAX_TRACESTATE_MEMBERS = 32
_MAX_XRAY = 1024

_KEY = r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"


class _Patterns:
    """The expressions trace headers are read with, compiled on first use: ``import
    versioned_msgs`` pays nothing for them, and neither does a process that never sees a
    trace header."""

    def __init__(self) -> None:
        self.traceparent = re.compile(
            r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})"
            r"-(?P<flags>[0-9a-f]{2})(?P<rest>-[\x21-\x7e]*)?",
            re.ASCII,
        )
        self.trace_id = re.compile(r"[0-9a-f]{32}", re.ASCII)
        self.span_id = re.compile(r"[0-9a-f]{16}", re.ASCII)
        self.member = re.compile(rf"(?P<key>{_KEY})=(?P<value>{_VALUE})", re.ASCII)
        self.xray_root = re.compile(r"1-(?P<time>[0-9a-f]{8})-(?P<id>[0-9a-f]{24})", re.ASCII)


_compiled: list[_Patterns] = []


def _re() -> _Patterns:
    if not _compiled:
        _compiled.append(_Patterns())
    return _compiled[0]


_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class TraceContext(msgspec.Struct, frozen=True, gc=False):
    """The producer's span a message was sent from (W3C Trace Context).

    ``trace_id`` (32 lowercase hex digits) and ``span_id`` (16) are the producer's trace
    and span; ``flags`` the W3C trace flags (bit 0: sampled); ``tracestate`` the vendor
    state that travelled with it, or ``None``. A context read from an ``AWSTraceHeader``
    has the X-Ray trace id written as W3C's (``1-5759e988-bd86...`` -> ``5759e988bd86...``).
    """

    trace_id: str
    span_id: str
    flags: int = 0
    tracestate: str | None = None

    def __post_init__(self) -> None:
        if not (
            isinstance(self.trace_id, str)
            and _re().trace_id.fullmatch(self.trace_id)
            and self.trace_id != _ZERO_TRACE
        ):
            raise ValueError(
                f"trace_id: expected 32 lowercase hex digits, not all zero, got {self.trace_id!r}"
            )
        if not (
            isinstance(self.span_id, str)
            and _re().span_id.fullmatch(self.span_id)
            and self.span_id != _ZERO_SPAN
        ):
            raise ValueError(
                f"span_id: expected 16 lowercase hex digits, not all zero, got {self.span_id!r}"
            )
        if isinstance(self.flags, bool) or not isinstance(self.flags, int):
            raise ValueError(f"flags: expected an integer from 0 to 255, got {self.flags!r}")
        if not 0 <= self.flags <= 255:
            raise ValueError(f"flags: expected an integer from 0 to 255, got {self.flags!r}")
        if self.tracestate is not None and parse_tracestate(self.tracestate) != self.tracestate:
            raise ValueError(
                "tracestate: expected a W3C tracestate (up to 32 comma-separated key=value "
                "members, no spaces around them)"
            )

    @property
    def sampled(self) -> bool:
        """True when the producer's span was sampled (trace flag bit 0)."""
        return bool(self.flags & 1)

    @property
    def traceparent(self) -> str:
        """The ``traceparent`` value (version 00)."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"

    def headers(self) -> dict[str, str]:
        """``traceparent``, and ``tracestate`` when there is one, as name -> value."""
        out = {TRACEPARENT: self.traceparent}
        if self.tracestate:
            out[TRACESTATE] = self.tracestate
        return out

    def message_attributes(self) -> dict[str, dict[str, str]]:
        """The headers as boto3 SQS/SNS ``MessageAttributes`` (String)."""
        return {
            name: {"DataType": "String", "StringValue": value}
            for name, value in self.headers().items()
        }

    @classmethod
    def from_headers(cls, traceparent: object, tracestate: object = None) -> TraceContext | None:
        """Read a ``traceparent`` and optional ``tracestate``; ``None`` when the traceparent
        is absent or malformed. A malformed tracestate is dropped, the traceparent kept."""
        if not isinstance(traceparent, str) or len(traceparent) > _MAX_TRACEPARENT:
            return None
        m = _re().traceparent.fullmatch(traceparent)
        if m is None:
            return None
        version = m.group("version")
        if version == "ff" or (version == "00" and m.group("rest") is not None):
            return None
        trace_id = m.group("trace_id")
        span_id = m.group("span_id")
        if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
            return None
        flags = int(m.group("flags"), 16)
        if version != "00":
            flags &= 1  # the meaning of the other bits belongs to that version
        state = parse_tracestate(tracestate) if tracestate is not None else None
        return cls(trace_id, span_id, flags, state)

    @classmethod
    def from_xray(cls, header: object) -> TraceContext | None:
        """Read an X-Ray trace header (SQS's ``AWSTraceHeader``):
        ``Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>``, keys in any order, other
        keys (``Lineage``, ``Self``) ignored. ``None`` when it is absent or malformed, or
        names no parent segment (there is no span to link to)."""
        if not isinstance(header, str) or len(header) > _MAX_XRAY:
            return None
        fields: dict[str, str] = {}
        for part in header.split(";"):
            part = part.strip(" ")
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep or key in fields:
                return None
            fields[key] = value
        root = _re().xray_root.fullmatch(fields.get("Root", ""))
        parent = fields.get("Parent", "")
        if root is None or _re().span_id.fullmatch(parent) is None:
            return None
        sampled = fields.get("Sampled", "0")
        if sampled not in ("0", "1"):
            return None
        trace_id = root.group("time") + root.group("id")
        if trace_id == _ZERO_TRACE or parent == _ZERO_SPAN:
            return None
        return cls(trace_id, parent, int(sampled))


def parse_tracestate(text: object) -> str | None:
    """A W3C ``tracestate`` checked and normalised (members joined by ``,``, blanks around
    them removed), or ``None`` when it is empty, malformed, has more than 32 members or a
    key twice."""
    if not isinstance(text, str) or not text or len(text) > _MAX_TRACESTATE:
        return None
    members: list[str] = []
    keys: set[str] = set()
    for raw in text.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        m = _re().member.fullmatch(member)
        if m is None:
            return None
        key = m.group("key")
        if key in keys:
            return None
        keys.add(key)
        members.append(member)
    if not members or len(members) > _MAX_TRACESTATE_MEMBERS:
        return None
    return ",".join(members)


def trace_from_attributes(attrs: Mapping[str, Any] | None) -> TraceContext | None:
    """The trace context in plain message attributes (``Meta.attributes``: name -> value)."""
    if not attrs:
        return None
    traceparent = attrs.get(TRACEPARENT)
    if traceparent is None:
        return None
    return TraceContext.from_headers(traceparent, attrs.get(TRACESTATE))


def trace_from_metadata(metadata: Mapping[str, Any] | None) -> TraceContext | None:
    """The trace context in S3 user metadata (keys compared lowercased, as S3 stores them)."""
    if not metadata:
        return None
    traceparent = tracestate = None
    for key, value in metadata.items():
        low = str(key).lower()
        if low == TRACEPARENT:
            traceparent = value
        elif low == TRACESTATE:
            tracestate = value
    return TraceContext.from_headers(traceparent, tracestate)


def trace_from_envelope(head: object) -> TraceContext | None:
    """The trace context in an embedded envelope's ``vmsg`` object."""
    if not isinstance(head, Mapping):
        return None
    traceparent = head.get(TRACEPARENT)
    if traceparent is None:
        return None
    return TraceContext.from_headers(traceparent, head.get(TRACESTATE))


def trace_from_record(record: object) -> TraceContext | None:
    """The X-Ray trace header of a raw Lambda SQS record (its ``AWSTraceHeader`` system
    attribute), as a trace context; ``None`` for any other record."""
    if not isinstance(record, Mapping) or record.get("eventSource") != "aws:sqs":
        return None
    system = record.get("attributes")
    if not isinstance(system, Mapping):
        return None
    header = system.get(AWS_TRACE_HEADER)
    return None if header is None else TraceContext.from_xray(header)
