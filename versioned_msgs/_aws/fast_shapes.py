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
- :class:`S3InSqs`: an S3 notification of one created object in an SQS body; the object
  is read once (see the class).
- :class:`EventBridgeEvent`: an EventBridge event invoking Lambda, its ``detail`` the
  embedded envelope (see the class).

The reference path looks for nested sources in this order: an embedded envelope (a first key
``vmsg``), an SNS envelope, an S3 notification (``Records``), an S3 test event (``Event``),
an EventBridge event. A body a shape reads must be none of the earlier ones: the shapes'
structs list the keys that would make it so, and a body carrying any of them is handed back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from .._core.attributes import plain_attributes
from .._core.envelope import RawEnvelope, looks_embedded, stamp_from_header
from .._core.stamp import Stamp
from .._core.trace import TraceContext, trace_from_envelope, trace_from_metadata
from .events import EVENTBRIDGE, KINESIS, OBJECT, S3, SQS, Record, _unquote_plus, s3_target_fields
from .fastpath import HandBack, Split
from .report import RecordResult

__all__ = [
    "EventBridgeEvent",
    "EventBridgeInSqs",
    "Kinesis",
    "S3InSqs",
    "SnsInSqs",
    "pick_sqs_shape",
]

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


class _TextCarrier:
    """A shape whose carrier is JSON text from the record and whose split reads nothing
    outside the record: a record handed back goes to the reference path whole."""

    key = staticmethod(bytes)

    @staticmethod
    def resume(rec: Any) -> None:
        return None


# ---- SNS -> SQS, raw delivery off ---------------------------------------------------------


class _SnsEnvelope(msgspec.Struct):
    Type: str
    Message: str
    TopicArn: msgspec.Raw  # (only its presence matters)
    MessageAttributes: msgspec.Raw = _ABSENT
    vmsg: msgspec.Raw = _ABSENT  # present: perhaps an embedded envelope, not this shape


class SnsInSqs(_TextCarrier):
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
        return env.MessageAttributes, message, mid, gid, order, None, None

    def typed_split(self, model: type[msgspec.Struct]) -> None:
        return None  # (the payload is a JSON string inside the envelope: two decodes)

    def stamp(self, key: bytes) -> tuple[Stamp | None, dict[str, Any], None]:
        if not key:
            return None, {}, None
        attrs = msgspec.json.decode(key)
        if type(attrs) is not dict:
            return None, {}, None
        # (a trace context in these attributes is read from Meta.attributes, not carried)
        return Stamp.from_message_attributes(attrs), plain_attributes(attrs), None


# ---- EventBridge -> SQS --------------------------------------------------------------------


# (gc=False: decoded JSON holds no cycles, and an untracked event costs ~330 instructions
# less per record in a typed split. Its first fields are in the order EventBridge writes
# them, which spares the decoder some key comparisons: ~200 instructions per record.)
class _EventBridgeEvent(msgspec.Struct, gc=False):
    detail_type: msgspec.Raw = msgspec.field(name="detail-type")  # (only its presence matters)
    source: Any
    detail: RawEnvelope
    # Any of these makes the reference path read the body as something else first: the
    # decoder refuses a body carrying one. A "vmsg" of any value (even a null first one makes
    # the body an envelope: UnsetType decodes from no JSON value), or a Type, Records or
    # Event that is not null (a null one is as good as none for the reference path's tests).
    vmsg: msgspec.UnsetType = msgspec.UNSET
    Type: None = None
    Records: None = None
    Event: None = None


def _data(env: RawEnvelope) -> bytes:
    """The data member's text (the reference path rejects an envelope without one)."""
    data = bytes(env.data)
    if not data:
        raise HandBack("body")
    return data


def _typed_envelope(model: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """:class:`RawEnvelope` with ``data`` decoded straight into ``model``, as the model's
    own decoder would decode the data's text (a body without data does not decode).
    Untracked by the garbage collector, as the events holding it: nothing decoded is a
    cycle."""
    return msgspec.defstruct("TypedEnvelope", [("vmsg", msgspec.Raw), ("data", model)], gc=False)


def _header_stamp(carrier: bytes) -> tuple[Stamp | None, dict[str, Any], TraceContext | None]:
    """The stamp and the trace context of an envelope's ``vmsg`` text, as ``unembed_traced``
    reads them."""
    head = msgspec.json.decode(carrier)
    return stamp_from_header(head), {}, trace_from_envelope(head)


class EventBridgeInSqs(_TextCarrier):
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
        event = msgspec.defstruct("TypedEventBridgeEvent", fields, gc=False)
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
            if event.source == "aws.s3":
                raise HandBack("body")
            detail = event.detail
            data = detail.data if model else _data(detail)
            return detail.vmsg, data, mid, gid, order, None, None

        return split


# ---- EventBridge -> Lambda ----------------------------------------------------------------------


class EventBridgeEvent(_TextCarrier):
    """An EventBridge event invoking Lambda (one per invocation), its ``detail`` the embedded
    envelope. Lambda hands the event over decoded, and the reference path encodes
    ``{"vmsg": ..., "data": ...}`` again to read it: the carrier is ``vmsg`` encoded and the
    body ``data`` encoded, the very bytes of those members in that encoding."""

    source = EVENTBRIDGE
    stamp = staticmethod(_header_stamp)

    @staticmethod
    def typed_split(model: type[msgspec.Struct]) -> None:
        return None

    @staticmethod
    def split(event: Any, fifo: bool) -> Split:
        if type(event) is not dict:
            raise HandBack("record shape")
        detail = event["detail"]
        if type(detail) is not dict or "vmsg" not in detail or "data" not in detail:
            raise HandBack("body")
        if event["source"] == "aws.s3" and "object" in detail:
            raise HandBack("body")
        mid = event.get("id")
        encode = msgspec.json.encode
        carrier = encode(detail["vmsg"])
        body = encode(detail["data"])
        return carrier, body, mid if type(mid) is str else None, None, None, None, None


# ---- Kinesis ---------------------------------------------------------------------------------


class Kinesis(_TextCarrier):
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
            import base64  # here, as in events._from_kinesis: ~1.5 ms at import

            try:
                data = base64.b64decode(k["data"], validate=True)  # (as events._from_kinesis)
            except ValueError:  # (binascii.Error, or text that is not ASCII)
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
            return env.vmsg, body, seq, key if type(key) is str else None, shard, None, None

        return split


# ---- S3 notifications in SQS ------------------------------------------------------------------


# (gc=False: decoded JSON holds no cycles, and untracked Structs cost ~800 instructions less
# per notification)
class _S3Bucket(msgspec.Struct, gc=False):
    name: Any


class _S3ObjectRef(msgspec.Struct, gc=False):
    key: Any
    eTag: Any = None
    versionId: Any = None
    size: Any = None


class _S3Entity(msgspec.Struct, gc=False):
    bucket: _S3Bucket
    object: _S3ObjectRef


class _S3Record(msgspec.Struct, gc=False):
    s3: _S3Entity
    eventSource: Any = None
    eventName: Any = None


class _S3Notification(msgspec.Struct, gc=False):
    Records: list[_S3Record]
    vmsg: msgspec.Raw = _ABSENT  # a first key "vmsg": an embedded envelope instead
    Type: msgspec.Raw | None = None  # perhaps an SNS envelope instead


#: An S3 object's ``ContentType`` and ``Metadata`` items, in order: all its stamp and its
#: trace context are read from (see :func:`~.s3reader.s3_object`).
_S3Carrier = tuple[Any, tuple[tuple[Any, Any], ...]]
#: What :meth:`Consumer._read_notified` answers: the object's body and GetObject response.
_RawRead = tuple[bytes, dict[str, Any]]
#: ``read(message_id, bucket, key, etag, version_id, size)``: :meth:`Consumer._read_notified`.
_ReadNotified = Callable[[str, str, str, "str | None", "str | None", "int | None"], _RawRead]


class S3InSqs:
    """An S3 notification of one created object in an SQS body (S3 -> SQS).

    The split reads the object, through the consumer's own ``read`` (bucket check,
    exact-object GetObject, size cap), so a record handed back after that read is never read
    again: :meth:`resume` finishes it with the consumer's ``finish`` (the stamp read from the
    metadata, then the reference path from that point on), or makes the result of the read's
    failure. The carrier is the object's ``ContentType`` and its ``Metadata`` items in order,
    the whole input of its stamp (``Stamp.from_s3_metadata``) and trace context
    (``trace_from_metadata``): equal carriers, equal stamps, so each distinct one is read
    once. A record whose body is not a compact JSON object, or whose metadata is unstamped
    or malformed, is finished by ``finish``. Only standard queues: a FIFO queue's group order
    is checked before any read, by the reference path.
    """

    source = S3

    def __init__(
        self, read: _ReadNotified, finish: Callable[[Record, _RawRead | Exception], RecordResult]
    ) -> None:
        self._decode = msgspec.json.Decoder(_S3Notification).decode
        self._read_notified = read
        self._finish = finish
        # the last record read from S3: (the raw record, its message id, group id, bucket,
        # key, etag, version id, size, then what the read answered or raised)
        self._read: tuple[Any, ...] | None = None
        # the last new carrier's ContentType, a copy of its Metadata, and the carrier itself
        # (None: its order matters, so no other dict is taken for it)
        self._last: tuple[Any, dict[Any, Any], _S3Carrier | None] = (None, {}, None)

    @staticmethod
    def key(carrier: _S3Carrier) -> _S3Carrier:
        return carrier

    @staticmethod
    def stamp(key: _S3Carrier) -> tuple[Stamp | None, dict[str, Any], TraceContext | None]:
        content_type, items = key
        metadata = dict(items)
        stamp = Stamp.from_s3_metadata(metadata, content_type=content_type)
        return stamp, {}, trace_from_metadata(metadata)

    @staticmethod
    def typed_split(model: type[msgspec.Struct]) -> None:
        return None

    def resume(self, rec: Any) -> list[RecordResult] | None:
        read = self._read
        if read is None or read[0] is not rec:
            return None
        self._read = None
        _, mid, gid, bucket, key, etag, version_id, size, got = read
        record = Record(
            kind=OBJECT,
            trigger=SQS,
            source=S3,
            message_id=mid,
            group_id=gid,
            bucket=bucket,
            key=key,
            etag=etag,
            version_id=version_id,
            size=size,
            raw=rec,
        )  # (what events.expand makes of the record)
        return [self._finish(record, got)]

    def split(self, rec: Any, fifo: bool) -> Split:
        self._read = None
        if fifo:
            raise HandBack("no fast plan")
        # (_unquote_plus called only for a key with a '%' or '+'; with the consumer's read
        # making fewer calls too, ~1,200 instructions a notification less)
        mid, body, gid, _ = _sqs_parts(rec, fifo)
        try:
            note = self._decode(body)
        except (msgspec.DecodeError, RecursionError):
            raise HandBack("body") from None
        if note.vmsg or note.Type is not None or len(note.Records) != 1:
            raise HandBack("body")
        s3rec = note.Records[0]
        name = s3rec.eventName
        if s3rec.eventSource != "aws:s3" or type(name) is not str:
            raise HandBack("body")
        if not name.startswith("ObjectCreated:"):
            raise HandBack("no fast plan")  # nothing to read: skipped
        entity = s3rec.s3
        ref = entity.object
        bucket = entity.bucket.name
        key = ref.key
        if type(bucket) is not str or type(key) is not str:
            raise HandBack("record shape")
        if "%" in key or "+" in key:
            key = _unquote_plus(key)
        # the Record's fields as events._s3_target sets them (the Record itself is made only
        # for a record handed back: ~1,800 instructions a record)
        mid, etag, version_id, size = s3_target_fields(
            mid, bucket, key, ref.eTag, ref.versionId, ref.size
        )
        try:
            read = self._read_notified(mid, bucket, key, etag, version_id, size)
        except Exception as exc:
            self._read = (rec, mid, gid, bucket, key, etag, version_id, size, exc)
            raise HandBack("object") from None
        self._read = (rec, mid, gid, bucket, key, etag, version_id, size, read)
        data, resp = read
        metadata = resp.get("Metadata")
        if type(metadata) is not dict:
            raise HandBack("no fast plan")  # (none: unstamped)
        if not (b'{"' <= data < b'{"vmsg"' or b'{"vmsg#' <= data < b"{#"):
            raise HandBack("body")
        content_type = resp.get("ContentType")
        last = self._last
        if metadata == last[1] and content_type == last[0] and last[2] is not None:
            # equal as dicts to the last new one, whose keys differ even lowercased (checked
            # when it was kept), so their order changes nothing: the same stamp and trace
            # context, and the same carrier (~2,000 instructions a record less than a carrier
            # built and compared in full)
            return last[2], data, mid, gid, None, bucket, key
        items = tuple(metadata.items())
        carrier = (content_type, items)
        self._last = (content_type, dict(items), carrier if _order_free(items) else None)
        return carrier, data, mid, gid, None, bucket, key


def _order_free(items: tuple[tuple[Any, Any], ...]) -> bool:
    """Whether metadata with these items reads the same in any order: its keys are plain
    strings that differ even lowercased (the stamp and trace context read them so)."""
    return all(type(k) is str for k, _ in items) and len({k.lower() for k, _ in items}) == len(
        items
    )


# ---- which shape an SQS event has ------------------------------------------------------------


def pick_sqs_shape(first: Any) -> str | None:
    """The shape of an SQS event told by its first record: ``"sns-in-sqs"``,
    ``"eventbridge-in-sqs"``, ``"s3-in-sqs"``, or None (the SQS fast path's own shape, or
    one no fast path reads). A guess that is wrong for some record costs a hand-back, never
    a wrong result: every record is checked."""
    try:
        if first.get("messageAttributes"):
            return None
        body = first["body"]
        if type(body) is not str:
            return None
        if '"TopicArn"' in body:
            return "sns-in-sqs"
        if '"detail-type"' in body:
            return "eventbridge-in-sqs"
        if '"aws:s3"' in body:
            return "s3-in-sqs"
    except Exception:  # (a record of another shape: the SQS path sorts it out)
        return None
    return None
