"""Envelopes around a payload: the embedded stamp envelope and the extended-client pointer.

The embedded envelope ``{"vmsg": {...}, "data": <payload>}`` carries the stamp inside the
body (Kinesis, EventBridge, ``embed=True``). The pointer
``["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": ..., "s3Key": ...}]``
is the body the AWS extended clients write when the payload lives in S3. Pure.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .errors import StampError, shown
from .stamp import Stamp, _check_producer, _check_readable_by, _check_type, _check_version, is_json
from .trace import TraceContext, trace_from_envelope

__all__ = [
    "LEGACY_POINTER_CLASS",
    "POINTER_CLASS",
    "POINTER_CLASSES",
    "Encoded",
    "RawEnvelope",
    "embed",
    "looks_embedded",
    "pointer_body",
    "stamp_from_header",
    "unembed",
    "unembed_traced",
]

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
# What the extended clients wrote before the payload-offloading library, and still write
# with use_legacy_attribute=True: read, never written.
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
POINTER_CLASSES = (POINTER_CLASS, LEGACY_POINTER_CLASS)


def pointer_body(bucket: str, key: str) -> bytes:
    """The AWS extended clients' S3 pointer, as their Java and Python versions write it."""
    return msgspec.json.encode([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])


# ---- the embedded envelope ------------------------------------------------------------

_ENVELOPE_START = re.compile(rb'\s*\{\s*"vmsg"\s*:')


class _Envelope(msgspec.Struct):
    vmsg: Any
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))


_envelope_decoder = msgspec.json.Decoder(_Envelope)


class RawEnvelope(msgspec.Struct):
    """An embedded envelope's two members as the JSON text they were sent as (``data``
    empty when absent). Decoding a body into it accepts exactly what :func:`unembed`'s own
    decoding accepts, so the two read the same members."""

    vmsg: msgspec.Raw
    data: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


def embed(body: bytes, stamp: Stamp, trace: TraceContext | None = None) -> bytes:
    """Wrap a JSON body in the embedded envelope ``{"vmsg": {...}, "data": <body>}``.

    ``trace`` adds ``traceparent`` (and ``tracestate``) to the ``vmsg`` object, after the
    stamp's members; readers that predate them ignore them.
    """
    if not is_json(stamp.content_type):
        raise StampError(
            f"envelope: expected a JSON payload to embed, got content type {stamp.content_type!r}",
            field="content_type",
            value=stamp.content_type,
        )
    header = stamp.envelope_header()
    if trace is not None:
        header.update(trace.headers())
    head = msgspec.json.encode(header)
    return b'{"vmsg":' + head + b',"data":' + body + b"}"


def looks_embedded(body: bytes | bytearray | memoryview) -> bool:
    """True when the body is a JSON object whose first key is ``vmsg``."""
    return _ENVELOPE_START.match(body) is not None


def unembed(body: bytes | bytearray | memoryview) -> tuple[Stamp | None, bytes]:
    """Split an embedded envelope into its stamp and its data bytes.

    A body that is not an envelope (not a JSON object whose first key is ``vmsg``) comes
    back unchanged with ``None``. Unknown keys in ``vmsg`` are ignored so the spec can grow.
    """
    stamp, data, _ = unembed_traced(body)
    return stamp, data


def unembed_traced(
    body: bytes | bytearray | memoryview,
) -> tuple[Stamp | None, bytes, TraceContext | None]:
    """:func:`unembed`, and the trace context in the ``vmsg`` object (``None`` when absent
    or malformed: a bad trace header never makes the envelope invalid)."""
    if _ENVELOPE_START.match(body) is None:
        return None, bytes(body), None
    where = "embedded envelope"
    try:
        env = _envelope_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise StampError(
            f"{where}: expected a JSON object with vmsg and data members, got invalid JSON ({exc})",
            field="vmsg",
            value=None,
        ) from None
    data = bytes(env.data)
    if not data:
        raise StampError(
            f"{where}: expected a data member beside vmsg, found none",
            field="data",
            value=None,
        )
    return stamp_from_header(env.vmsg), data, trace_from_envelope(env.vmsg)


def stamp_from_header(head: Any) -> Stamp:
    """The stamp of an embedded envelope's ``vmsg`` member (as decoded JSON), parsed
    strictly; unknown keys are ignored so the spec can grow."""
    where = "embedded envelope"
    if not isinstance(head, dict):
        raise StampError(
            f"{where}: expected vmsg to be an object, got {shown(head)}",
            field="vmsg",
            value=head,
        )
    version = _check_version(head.get("version"), "version", where, "vmsg.version")
    rb = head.get("readable_by")
    producer = head.get("producer")
    return Stamp(
        type=_check_type(head.get("type"), where, "vmsg.type"),
        version=version,
        readable_by=None
        if rb is None
        else _check_readable_by(
            _check_version(rb, "readable_by", where, "vmsg.readable_by"),
            version,
            where,
            "vmsg.readable_by",
        ),
        producer=None if producer is None else _check_producer(producer, where, "vmsg.producer"),
    )


class Encoded(msgspec.Struct, frozen=True, gc=False):
    """An encoded payload and its stamp: what :meth:`Registry.encode` returns."""

    body: bytes
    stamp: Stamp

    def embedded(self, trace: TraceContext | None = None) -> bytes:
        """The body wrapped in the embedded envelope (Kinesis, EventBridge, ``embed=True``),
        with ``trace`` in its ``vmsg`` object when given."""
        return embed(self.body, self.stamp, trace)
