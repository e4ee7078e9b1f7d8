"""The shapes :class:`~.fastpath.ShapedFastPath` reads: sources whose stamp travels in the
body or the record rather than in the SQS record's own attributes.

Each shape's ``split`` accepts a record only when it can show the reference path
(:func:`~.events.expand`, then ``Consumer._process_one``) would read the same stamp carrier
and the same body from it; for anything else it raises, and the record is handed back.

- :class:`SnsInSqs`: an SNS notification delivered to SQS with raw delivery off (the
  default). The SQS record has no message attributes; its body is the SNS envelope, whose
  ``MessageAttributes`` carry the stamp and whose ``Message`` is the payload, a compact JSON
  object that is not an embedded envelope. The carrier is ``MessageAttributes`` as the JSON
  text it was sent as: equal text, equal attributes.
- :class:`EventBridgeInSqs`: an EventBridge event delivered to SQS, its ``detail`` the
  embedded envelope our publisher writes. The carrier is ``detail.vmsg``'s text, the body
  ``detail.data``'s text: the exact bytes the reference path decodes (it keeps both
  members' text too).
- :class:`Kinesis`: a Kinesis record whose data (base64) is an embedded envelope. The
  carrier is ``vmsg``'s text, the body ``data``'s text.

The reference path looks for nested sources in this order: an embedded envelope (a first key
``vmsg``), an SNS envelope, an S3 notification (``Records``), an S3 test event (``Event``),
an EventBridge event. A body a shape reads must be none of the earlier ones: the shapes'
structs list the keys that would make it so, and a body carrying any of them is handed back.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from .._core.attributes import plain_attributes
from .._core.envelope import RawEnvelope, looks_embedded, stamp_from_header
from .._core.stamp import Stamp
from .events import KINESIS, SQS
from .fastpath import HandBack, Split

__all__ = ["EventBridgeInSqs", "Kinesis", "SnsInSqs", "pick_sqs_shape"]

_GROUP = "MessageGroupId"
_ABSENT = msgspec.Raw()  # the default of a key the body lacks (an empty Raw is falsy)


def _sqs_parts(rec: Any, fifo: bool) -> tuple[str, str, str | None, str | None]:
    """An SQS record's message id, body, group id and order key, as ``events._from_sqs``
    reads them; raises :class:`HandBack` for a record with attributes of its own (the stamp
    or a parked encoding would be read from them) or fields of another type."""
    if type(rec) is not dict:
        raise HandBack("record shape")
    mid = rec["messageId"]
    body = rec["body"]
    system = rec.get("attributes") or {}
    gid = system.get(_GROUP) if type(system) is dict else _ABSENT
    if type(mid) is not str or type(body) is not str or (gid is not None and type(gid) is not str):
        raise HandBack("record shape")
    if rec.get("messageAttributes"):
        raise HandBack("no fast plan")
    return mid, body, gid, ((gid or "") if fifo else None)


def _compact_object(body: str) -> bool:
    """Starts ``{"`` and is not an embedded envelope (so the payload is this very text)."""
    return '{"' <= body < '{"vmsg"' or '{"vmsg#' <= body < "{#"


# ---- SNS -> SQS, raw delivery off ---------------------------------------------------------


class _SnsEnvelope(msgspec.Struct):
    Type: str
    Message: str
    TopicArn: msgspec.Raw  # (only its presence matters)
    MessageAttributes: msgspec.Raw = _ABSENT
    vmsg: msgspec.Raw = _ABSENT  # present: perhaps an embedded envelope, not this shape


class SnsInSqs:
    """An SNS envelope in an SQS body (see the module docstring)."""

    source = SQS

    def __init__(self) -> None:
        self._decode = msgspec.json.Decoder(_SnsEnvelope).decode

    def split(self, rec: Any, fifo: bool) -> Split:
        mid, body, gid, order = _sqs_parts(rec, fifo)
        try:
            env = self._decode(body)
        except (msgspec.DecodeError, RecursionError):
            raise HandBack("body") from None
        message = env.Message
        if env.Type != "Notification" or env.vmsg or not _compact_object(message):
            raise HandBack("body")
        return env.MessageAttributes, message, mid, gid, order

    def stamp(self, carrier: bytes) -> tuple[Stamp | None, dict[str, Any]]:
        if not carrier:
            return None, {}
        attrs = msgspec.json.decode(carrier)
        if type(attrs) is not dict:
            return None, {}
        return Stamp.from_message_attributes(attrs), plain_attributes(attrs)


# ---- EventBridge -> SQS --------------------------------------------------------------------


class _EventBridgeEvent(msgspec.Struct):
    detail: RawEnvelope
    source: Any
    detail_type: msgspec.Raw = msgspec.field(name="detail-type")
    # any of these makes the reference path read the body as something else first
    vmsg: msgspec.Raw = _ABSENT
    Type: msgspec.Raw = _ABSENT
    Records: msgspec.Raw = _ABSENT
    Event: msgspec.Raw = _ABSENT


def _embedded_parts(env: RawEnvelope) -> tuple[msgspec.Raw, bytes]:
    data = bytes(env.data)
    if not data:
        raise HandBack("body")  # the reference path rejects an envelope without data
    return env.vmsg, data


def _header_stamp(carrier: bytes) -> tuple[Stamp | None, dict[str, Any]]:
    return stamp_from_header(msgspec.json.decode(carrier)), {}


class EventBridgeInSqs:
    """An EventBridge event in an SQS body (see the module docstring)."""

    source = SQS
    stamp = staticmethod(_header_stamp)

    def __init__(self) -> None:
        self._decode = msgspec.json.Decoder(_EventBridgeEvent).decode

    def split(self, rec: Any, fifo: bool) -> Split:
        mid, body, gid, order = _sqs_parts(rec, fifo)
        try:
            event = self._decode(body)
        except (msgspec.DecodeError, RecursionError):
            raise HandBack("body") from None
        if event.vmsg or event.Type or event.Records or event.Event or event.source == "aws.s3":
            raise HandBack("body")
        carrier, data = _embedded_parts(event.detail)
        return carrier, data, mid, gid, order


# ---- Kinesis ---------------------------------------------------------------------------------


class Kinesis:
    """A Kinesis record holding an embedded envelope (see the module docstring)."""

    source = KINESIS
    stamp = staticmethod(_header_stamp)

    def __init__(self) -> None:
        self._decode = msgspec.json.Decoder(RawEnvelope).decode

    def split(self, rec: Any, fifo: bool) -> Split:
        if type(rec) is not dict:
            raise HandBack("record shape")
        k = rec["kinesis"]
        seq = k["sequenceNumber"]
        if type(seq) is not str:
            raise HandBack("record shape")
        try:
            data = base64.b64decode(k["data"], validate=True)  # (as events._from_kinesis)
        except binascii.Error:
            raise HandBack("body") from None
        if not looks_embedded(data):
            raise HandBack("body")  # unstamped, or another source nested in the data
        try:
            env = self._decode(data)
        except (msgspec.DecodeError, RecursionError):
            raise HandBack("body") from None
        carrier, body = _embedded_parts(env)
        event_id = rec.get("eventID")
        shard = event_id.split(":", 1)[0] if type(event_id) is str else ""
        key = k.get("partitionKey")
        return carrier, body, seq, key if type(key) is str else None, shard


# ---- which shape an SQS event has ------------------------------------------------------------


def pick_sqs_shape(first: Any) -> str | None:
    """The shape of an SQS event told by its first record: ``"sns"``, ``"eventbridge"``, or
    None (the SQS fast path's own shape, or one no fast path reads). A guess that is wrong
    for some record costs a hand-back, never a wrong result: every record is checked."""
    try:
        if first.get("messageAttributes"):
            return None
        body = first["body"]
        if type(body) is not str:
            return None
        if '"TopicArn"' in body:
            return "sns"
        if '"detail-type"' in body:
            return "eventbridge"
    except Exception:  # (a record of another shape: the SQS path sorts it out)
        return None
    return None
