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
from collections.abc import Callable
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

    def typed_split(self, model: type[msgspec.Struct]) -> None:
        return None  # (the payload is a JSON string inside the envelope: two decodes)

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
    vmsg: msgspec.Raw = _ABSENT  # (even a null first "vmsg" makes the body an envelope)
    # a null one is as good as none for the reference path's tests of these three
    Type: msgspec.Raw | None = None
    Records: msgspec.Raw | None = None
    Event: msgspec.Raw | None = None


def _data(env: RawEnvelope) -> bytes:
    """The data member's text (the reference path rejects an envelope without one)."""
    data = bytes(env.data)
    if not data:
        raise HandBack("body")
    return data


def _typed_envelope(model: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """:class:`RawEnvelope` with ``data`` decoded straight into ``model``, as the model's
    own decoder would decode the data's text (a body without data does not decode)."""
    return msgspec.defstruct("TypedEnvelope", [("vmsg", msgspec.Raw), ("data", model)])


def _header_stamp(carrier: bytes) -> tuple[Stamp | None, dict[str, Any]]:
    return stamp_from_header(msgspec.json.decode(carrier)), {}


class EventBridgeInSqs:
    """An EventBridge event in an SQS body (see the module docstring)."""

    source = SQS
    stamp = staticmethod(_header_stamp)

    def __init__(self) -> None:
        self.split = self._splitter(msgspec.json.Decoder(_EventBridgeEvent).decode, None)

    def typed_split(self, model: type[msgspec.Struct]) -> Callable[[Any, bool], Split]:
        envelope = _typed_envelope(model)
        fields: list[tuple[str, Any, Any]] = [
            (f.name, envelope, msgspec.NODEFAULT)
            if f.name == "detail"
            else (f.name, f.type, msgspec.field(name=f.encode_name, default=f.default))
            for f in msgspec.structs.fields(_EventBridgeEvent)
        ]
        event = msgspec.defstruct("TypedEventBridgeEvent", fields)
        return self._splitter(msgspec.json.Decoder(event).decode, model)

    @staticmethod
    def _splitter(
        decode: Callable[[str], Any], model: type[msgspec.Struct] | None
    ) -> Callable[[Any, bool], Split]:
        def split(rec: Any, fifo: bool) -> Split:
            mid, body, gid, order = _sqs_parts(rec, fifo)
            try:
                event = decode(body)
            except (msgspec.DecodeError, RecursionError):
                raise HandBack("body") from None
            if (
                event.vmsg
                or event.Type is not None
                or event.Records is not None
                or event.Event is not None
                or event.source == "aws.s3"
            ):
                raise HandBack("body")
            detail = event.detail
            return detail.vmsg, detail.data if model else _data(detail), mid, gid, order

        return split


# ---- Kinesis ---------------------------------------------------------------------------------


class Kinesis:
    """A Kinesis record holding an embedded envelope (see the module docstring)."""

    source = KINESIS
    stamp = staticmethod(_header_stamp)

    def __init__(self) -> None:
        self.split = self._splitter(msgspec.json.Decoder(RawEnvelope).decode, None)

    def typed_split(self, model: type[msgspec.Struct]) -> Callable[[Any, bool], Split]:
        return self._splitter(msgspec.json.Decoder(_typed_envelope(model)).decode, model)

    @staticmethod
    def _splitter(
        decode: Callable[[bytes], Any], model: type[msgspec.Struct] | None
    ) -> Callable[[Any, bool], Split]:
        def split(rec: Any, fifo: bool) -> Split:
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
            # (the reference path's test, the regular expression, only when the cheap one fails)
            if not (data.startswith(b'{"vmsg":') or looks_embedded(data)):
                raise HandBack("body")  # unstamped, or another source nested in the data
            try:
                env = decode(data)
            except (msgspec.DecodeError, RecursionError):
                raise HandBack("body") from None
            event_id = rec.get("eventID")
            shard = event_id.split(":", 1)[0] if type(event_id) is str else ""
            key = k.get("partitionKey")
            body = env.data if model else _data(env)
            return env.vmsg, body, seq, key if type(key) is str else None, shard

        return split


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
