"""Lambda events: recognise the source from the event's shape, and flatten it into records.

Every source the consumer recognises becomes a list of :class:`Record` values of one uniform shape,
nested sources included (S3 notifications inside SQS bodies and SNS envelopes, SNS envelopes
inside SQS bodies, EventBridge events inside SQS bodies, extended-client pointers). Nothing
here talks to AWS or decodes payloads: the consumer does that.

Bodies that might hold a nested source are parsed as JSON and inspected as data (real AWS
pretty-prints SNS envelopes, so string matching would be wrong). Only bodies without a stamp
in their attributes are inspected that way: a stamped body is the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from .._core.attributes import (
    ATTR_PARKED_ENCODING,
    ATTR_TYPE,
    ATTR_VERSION,
    SIZE_ATTRIBUTES,
    boto3_attributes,
)
from .._core.envelope import POINTER_CLASSES, RawEnvelope, looks_embedded
from .._core.errors import EventShapeError, VersionedMsgsError

__all__ = [
    "EVENTBRIDGE",
    "INVALID",
    "KINESIS",
    "OBJECT",
    "PAYLOAD",
    "POINTER",
    "S3",
    "SKIP",
    "SNS",
    "SQS",
    "Record",
    "RecordKind",
    "Trigger",
    "event_records",
    "expand",
    "park_payload",
    "records",
]

#: The source that invoked the function.
Trigger = Literal["sqs", "sns", "s3", "kinesis", "eventbridge"]
SQS: Trigger = "sqs"
SNS: Trigger = "sns"
S3: Trigger = "s3"
KINESIS: Trigger = "kinesis"
EVENTBRIDGE: Trigger = "eventbridge"

#: What a record asks of the consumer: ``payload`` a body to decode (stamp in attributes,
#: embedded, or none); ``object`` an S3 object to read (an S3 notification); ``pointer`` an
#: extended-client pointer (the body lives in S3); ``skip`` acknowledged with nothing to do
#: (s3:TestEvent, removed objects); ``invalid`` a record of no readable shape (see ``error``).
RecordKind = Literal["payload", "object", "pointer", "skip", "invalid"]
PAYLOAD: RecordKind = "payload"
OBJECT: RecordKind = "object"
POINTER: RecordKind = "pointer"
SKIP: RecordKind = "skip"
INVALID: RecordKind = "invalid"


#: The ``order_key`` of an invalid record whose message group or shard cannot be read: it
#: stops every later record of the event (no real group id or shard id has a newline).
EVERY_ORDER_KEY = "\n(every group)"


class Record(msgspec.Struct, gc=False, kw_only=True):
    """One unit of work taken from a Lambda event, whatever its source.

    ``trigger`` is the source that invoked the function (``"sqs" "sns" "s3" "kinesis"
    "eventbridge"``); ``source`` is what :class:`Meta` reports (the trigger, except ``"s3"``
    when the payload is an S3 object). ``message_id`` names the record in results and in
    ``batchItemFailures`` (SQS messageId, Kinesis sequenceNumber). ``order_key`` is the FIFO
    message group or the Kinesis shard whose order must be kept. ``raw`` is the Lambda record.
    """

    kind: RecordKind
    trigger: Trigger
    source: str
    message_id: str | None = None
    body: bytes | str | None = None
    attributes: Mapping[str, Any] | None = None
    group_id: str | None = None
    order_key: str | None = None
    bucket: str | None = None
    key: str | None = None
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None
    error: VersionedMsgsError | None = None
    raw: Any = None


# ---- the event ------------------------------------------------------------------------------

_RECORD_SOURCES: dict[str, Trigger] = {
    "aws:sqs": SQS,
    "aws:sns": SNS,
    "aws:s3": S3,
    "aws:kinesis": KINESIS,
}


def _keys(obj: object) -> str:
    if isinstance(obj, Mapping):
        return "keys " + ", ".join(sorted(map(str, obj))[:12])
    return type(obj).__name__


def event_records(event: object) -> tuple[Trigger, list[Any]]:
    """The trigger of a Lambda event and its raw records (an EventBridge event is one record).

    The source is read from the first record: Lambda never mixes sources in one event.
    Raises :class:`EventShapeError` for an event of no known shape.
    """
    # (a dict is tested first: the ABC check costs ~0.3 µs per call, this ~0.03)
    if type(event) is not dict and not isinstance(event, Mapping):
        raise EventShapeError(
            f"event: expected a JSON object (a Lambda event), got {type(event).__name__}",
            found=type(event).__name__,
        )
    recs = event.get("Records")
    if isinstance(recs, list):
        if not recs:
            return SQS, []
        first = recs[0]
        src = None
        if type(first) is dict or isinstance(first, Mapping):
            src = first.get("eventSource") or first.get("EventSource")
        trigger = _RECORD_SOURCES.get(src) if isinstance(src, str) else None
        if trigger is None:
            raise EventShapeError(
                "event: expected Records from aws:sqs, aws:sns, aws:s3 or aws:kinesis, got "
                + (f"eventSource {src!r}" if src is not None else f"a record with {_keys(first)}"),
                where="Records[0]",
                found=src,
            )
        return trigger, recs
    if _is_eventbridge(event):
        return EVENTBRIDGE, [event]
    if "deliveryStreamArn" in event and "records" in event:
        raise EventShapeError(
            "event: Kinesis Data Firehose transformation events are not supported (they need "
            "a transformation response); expected SQS, SNS, S3, Kinesis or EventBridge",
            found="firehose",
        )
    raise EventShapeError(
        "event: expected a Lambda event from SQS, SNS, S3, Kinesis (a Records list) or an "
        f"EventBridge event (detail-type, source, detail), got {_keys(event)}",
        found=sorted(map(str, event))[:12],
    )


def records(event: object) -> tuple[Trigger, list[Record]]:
    """The trigger and every record of an event, flattened and nested sources unwrapped."""
    trigger, raw = event_records(event)
    fifo = trigger == SQS and bool(raw) and is_fifo_record(raw[0])
    out: list[Record] = []
    for rec in raw:
        out.extend(expand(trigger, rec, fifo=fifo))
    return trigger, out


def expand(trigger: Trigger, rec: Any, *, fifo: bool | None = None) -> list[Record]:
    """The records one raw Lambda record stands for (usually one; an S3 notification inside
    an SQS body may list several objects). Never raises: a malformed record becomes INVALID.

    ``fifo`` says whether an SQS record comes from a FIFO queue; None reads it from the
    record itself. A consumer reads it once per event, from the first record, as it reads
    the source: Lambda never mixes queues in one event.
    """
    try:
        if trigger == SQS:
            return _from_sqs(rec, is_fifo_record(rec) if fifo is None else fifo)
        if trigger == SNS:
            return _from_sns(rec)
        if trigger == KINESIS:
            return _from_kinesis(rec)
        if trigger == S3:
            base = Record(kind=PAYLOAD, trigger=S3, source=S3, raw=rec)
            return [_s3_record(rec, base, "Records[]")]
        return _from_eventbridge_event(
            rec,
            Record(
                kind=PAYLOAD,
                trigger=trigger,
                source=trigger,
                message_id=_str(rec.get("id")),
                raw=rec,
            ),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        item = _item_id(trigger, rec)
        return [
            Record(
                kind=INVALID,
                trigger=trigger,
                source=trigger,
                message_id=item,
                order_key=_invalid_order_key(trigger, rec, fifo),
                raw=rec,
                error=EventShapeError(
                    f"{trigger} record: expected the shape Lambda delivers, got {_keys(rec)} "
                    f"({type(exc).__name__}: {exc})",
                    where=f"{trigger} record",
                    found=_keys(rec),
                ),
            )
        ]


def _invalid_order_key(trigger: str, rec: Any, fifo: bool | None) -> str | None:
    """The order key of a record that could not be read: its FIFO group or Kinesis shard
    when those can still be read, else :data:`EVERY_ORDER_KEY` (ordered sources only), so a
    record reported failed always stops what comes after it in its group or shard."""
    if trigger == KINESIS:
        event_id = rec.get("eventID") if isinstance(rec, Mapping) else None
        return event_id.split(":", 1)[0] if isinstance(event_id, str) else EVERY_ORDER_KEY
    if trigger == SQS and (is_fifo_record(rec) if fifo is None else fifo):
        system = rec.get("attributes") if isinstance(rec, Mapping) else None
        group = system.get("MessageGroupId") if isinstance(system, Mapping) else None
        return group if isinstance(group, str) else EVERY_ORDER_KEY
    return None


def _item_id(trigger: str, rec: Any) -> str | None:
    if not isinstance(rec, Mapping):
        return None
    if trigger == SQS:
        return _str(rec.get("messageId"))
    if trigger == KINESIS:
        k = rec.get("kinesis")
        return _str(k.get("sequenceNumber")) if isinstance(k, Mapping) else None
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# ---- per source ---------------------------------------------------------------------------


def is_fifo_record(rec: Any) -> bool:
    """True for a record of a FIFO queue: its ARN ends in ``.fifo``, or it carries the
    ``SequenceNumber`` and ``MessageGroupId`` only FIFO queues give."""
    if type(rec) is not dict and not isinstance(rec, Mapping):  # (a dict: no ABC check)
        return False
    arn = rec.get("eventSourceARN")
    if isinstance(arn, str) and arn.endswith(".fifo"):
        return True
    system = rec.get("attributes")
    return (
        (type(system) is dict or isinstance(system, Mapping))
        and "SequenceNumber" in system
        and ("MessageGroupId" in system)
    )


def _from_sqs(rec: Mapping[str, Any], fifo: bool) -> list[Record]:
    mid = rec["messageId"]
    if not isinstance(mid, str):
        raise TypeError(f"messageId must be a string, got {type(mid).__name__}")
    body = rec["body"]
    if not isinstance(body, str):
        raise TypeError(f"body must be a string, got {type(body).__name__}")
    sys_attrs = rec.get("attributes") or {}
    gid = _str(sys_attrs.get("MessageGroupId"))
    attrs = rec.get("messageAttributes") or None
    data: str | bytes = body
    if attrs is not None and ATTR_PARKED_ENCODING in attrs:
        data = _unwrap_parked(body, attrs[ATTR_PARKED_ENCODING])
    base = Record(
        kind=PAYLOAD,
        trigger=SQS,
        source=SQS,
        message_id=mid,
        group_id=gid,
        order_key=(gid or "") if fifo else None,
        raw=rec,
    )
    return _inner(data, attrs, base)


def _unwrap_parked(body: str, encoding: Any) -> bytes:
    """The original bytes of a message parked in the wrapped form (see :func:`park_payload`)."""
    value = (
        encoding.get("stringValue", encoding.get("StringValue"))
        if isinstance(encoding, Mapping)
        else None
    )
    if value != "base64":
        raise ValueError(f"{ATTR_PARKED_ENCODING}: expected 'base64', got {str(value)[:40]!r}")
    import base64
    import binascii

    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise ValueError(f"{ATTR_PARKED_ENCODING} is base64 but the body is not") from None


def _from_sns(rec: Mapping[str, Any]) -> list[Record]:
    sns = rec["Sns"]
    message = sns["Message"]
    if not isinstance(message, str):
        raise TypeError(f"Sns.Message must be a string, got {type(message).__name__}")
    mid = _str(sns.get("MessageId"))
    base = Record(kind=PAYLOAD, trigger=SNS, source=SNS, message_id=mid, raw=rec)
    return _inner(message, sns.get("MessageAttributes") or None, base)


def _from_kinesis(rec: Mapping[str, Any]) -> list[Record]:
    k = rec["kinesis"]
    seq = k["sequenceNumber"]
    if not isinstance(seq, str):
        raise TypeError(f"kinesis.sequenceNumber must be a string, got {type(seq).__name__}")
    import base64  # here: only Kinesis and binary attributes need it (cold starts)
    import binascii

    try:
        data = base64.b64decode(k["data"], validate=True)
    except binascii.Error as exc:
        raise ValueError(f"kinesis.data is not base64: {exc}") from None
    event_id = rec.get("eventID")
    shard = event_id.split(":", 1)[0] if isinstance(event_id, str) else ""
    base = Record(
        kind=PAYLOAD,
        trigger=KINESIS,
        source=KINESIS,
        message_id=seq,
        group_id=_str(k.get("partitionKey")),
        order_key=shard,
        raw=rec,
    )
    return _inner(data, None, base)


def _is_eventbridge(obj: Mapping[str, Any]) -> bool:
    return "detail-type" in obj and "source" in obj and "detail" in obj


class _RawDetail(msgspec.Struct):
    detail: RawEnvelope


_raw_detail_decoder = msgspec.json.Decoder(_RawDetail)


def _from_eventbridge_event(
    event: Mapping[str, Any], base: Record, text: bytes | str | None = None
) -> list[Record]:
    """The record of an EventBridge event; ``text``: the JSON the event was decoded from
    (an SQS body, Kinesis data), None when Lambda was invoked with the event itself."""
    detail = event["detail"]
    source = event["source"]
    if source == "aws.s3" and isinstance(detail, Mapping) and "object" in detail:
        return [_s3_eventbridge_record(event, detail, base)]
    # Our producers put the embedded envelope in Detail; anything else is unversioned data.
    # The envelope is recognised by its first key, and nothing promises EventBridge keeps
    # the order of an object's keys: put vmsg first again. From text, both members keep the
    # exact JSON they were sent as.
    body: bytes
    if isinstance(detail, Mapping) and "vmsg" in detail and "data" in detail:
        if text is not None:
            env = _raw_detail_decoder.decode(text).detail
            body = b'{"vmsg":' + bytes(env.vmsg) + b',"data":' + bytes(env.data) + b"}"
        else:
            body = msgspec.json.encode({"vmsg": detail["vmsg"], "data": detail["data"]})
    else:
        body = msgspec.json.encode(detail)
    return [msgspec.structs.replace(base, kind=PAYLOAD, body=body, attributes=None)]


def _s3_target(
    base: Record,
    bucket: object,
    key: object,
    etag: object,
    version_id: object,
    size: object,
    created: bool,
) -> Record:
    """An OBJECT record for a created object, else a SKIP record (nothing new to read)."""
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise TypeError(f"the bucket name and object key must be strings, got {bucket!r}, {key!r}")
    mid, etag, version_id, size = s3_target_fields(
        base.message_id, bucket, key, etag, version_id, size
    )
    return msgspec.structs.replace(
        base,
        kind=OBJECT if created else SKIP,
        source=S3,
        message_id=mid,
        bucket=bucket,
        key=key,
        etag=etag,
        version_id=version_id,
        size=size,
    )


def s3_target_fields(
    mid: str | None, bucket: str, key: str, etag: object, version_id: object, size: object
) -> tuple[str, str | None, str | None, int | None]:
    """The message id, ETag, version id and size an S3 object's record keeps, from what
    its event says (the fast path reads them through this too)."""
    return (
        mid or f"s3://{bucket}/{key}",
        _str(etag),
        # "null" is the version id of objects written while versioning was off: it names
        # whatever object is there now, so the ETag alone says whether it is the same one.
        None if version_id == "null" else _str(version_id),
        size if type(size) is int and size >= 0 else None,
    )


def _s3_eventbridge_record(
    event: Mapping[str, Any], detail: Mapping[str, Any], base: Record
) -> Record:
    obj = detail["object"]
    dtype = event["detail-type"]
    # EventBridge object keys are not URL-encoded (notification keys are).
    etag = obj.get("etag", obj.get("eTag"))  # AWS writes etag; some emulators eTag
    return _s3_target(
        base,
        detail["bucket"]["name"],
        obj["key"],
        etag,
        obj.get("version-id"),
        obj.get("size"),
        dtype == "Object Created",
    )


def _unquote_plus(key: str) -> str:
    """An S3 event's URL-encoded key, decoded (``+`` is a space)."""
    if "%" not in key and "+" not in key:
        return key  # nothing encoded (what unquote_plus would return)
    from urllib.parse import unquote_plus  # here: urllib.parse costs ~2 ms at import

    return unquote_plus(key)


def _s3_record(rec: Mapping[str, Any], base: Record, where: str) -> Record:
    if rec.get("eventSource") != "aws:s3":
        raise ValueError(f"{where}: expected eventSource 'aws:s3', got {rec.get('eventSource')!r}")
    s3 = rec["s3"]
    obj = s3["object"]
    raw_key = obj["key"]
    if not isinstance(raw_key, str):
        raise TypeError(f"s3.object.key must be a string, got {raw_key!r}")
    name = rec.get("eventName")
    created = isinstance(name, str) and name.startswith("ObjectCreated:")
    return _s3_target(
        base,
        s3["bucket"]["name"],
        _unquote_plus(raw_key),
        obj.get("eTag"),
        obj.get("versionId"),
        obj.get("size"),
        created,
    )


# ---- bodies that may hold another source ------------------------------------------------------


def _has_stamp_attrs(attrs: Mapping[str, Any] | None) -> bool:
    return bool(attrs) and (ATTR_TYPE in attrs or ATTR_VERSION in attrs)  # type: ignore[operator]


def _json_start(body: bytes | str) -> str:
    """The first non-blank character of a body ('' when none)."""
    c = body[:1]
    if c in (" ", "\n", "\r", "\t", b" ", b"\n", b"\r", b"\t"):
        c = body.lstrip()[:1]
    return c.decode("latin-1") if isinstance(c, bytes) else c


def _inner(body: bytes | str, attrs: Mapping[str, Any] | None, base: Record) -> list[Record]:
    """The records a message body stands for: itself, or the source nested inside it."""
    stamped = _has_stamp_attrs(attrs)
    start = _json_start(body)
    pointer_hint = attrs is not None and any(a in attrs for a in SIZE_ATTRIBUTES)
    payload = msgspec.structs.replace(base, kind=PAYLOAD, body=body, attributes=attrs)
    if start == "[" or pointer_hint:
        obj = _try_json(body)
        if _is_pointer(obj):
            bucket, key = obj[1]["s3BucketName"], obj[1]["s3Key"]
            return [msgspec.structs.replace(payload, kind=POINTER, bucket=bucket, key=key)]
        return [payload]
    if stamped or start != "{":
        return [payload]
    raw = body.encode() if isinstance(body, str) else body
    if looks_embedded(raw):
        return [payload]
    obj = _try_json(body)
    if not isinstance(obj, dict):
        return [payload]
    if _is_sns_envelope(obj):
        msg = obj["Message"]
        nested = base
        if base.message_id is None:
            nested = msgspec.structs.replace(base, message_id=_str(obj.get("MessageId")))
        return _inner(msg, obj.get("MessageAttributes") or None, nested)
    recs = obj.get("Records")
    if (
        isinstance(recs, list)
        and recs
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:s3" for r in recs)
    ):
        return [_s3_record(r, base, f"Records[{i}]") for i, r in enumerate(recs)]
    if obj.get("Event") == "s3:TestEvent":
        return [
            msgspec.structs.replace(
                base,
                kind=SKIP,
                source=S3,
            )
        ]
    if _is_eventbridge(obj):
        return _from_eventbridge_event(obj, base, body)
    return [payload]


def _try_json(body: bytes | str) -> Any:
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # RecursionError: JSON nested deeper than msgspec follows (~1000 levels)
        return None


def _is_pointer(obj: Any) -> bool:
    return (
        isinstance(obj, list)
        and len(obj) == 2
        and obj[0] in POINTER_CLASSES
        and isinstance(obj[1], dict)
        and isinstance(obj[1].get("s3BucketName"), str)
        and isinstance(obj[1].get("s3Key"), str)
    )


def _is_sns_envelope(obj: Mapping[str, Any]) -> bool:
    return (
        obj.get("Type") == "Notification"
        and isinstance(obj.get("Message"), str)
        and "TopicArn" in obj
    )


def park_payload(record: Record) -> tuple[str, dict[str, Any], list[str]]:
    """The original body and attributes of a record's Lambda record, ready for SendMessage.

    SQS: the body and attributes as received (an SNS envelope stays an envelope); SNS: the
    message and its attributes; Kinesis: the data as text; S3: a one-record S3 notification;
    EventBridge: the event. Also returns the names of attributes that could not be carried.

    A body that SQS would refuse as it is (Kinesis data that is not UTF-8 text, or text with
    a character outside SQS's set) is parked in the **wrapped form**: the body base64-encoded
    and the attribute ``vmsg-parked-encoding`` = ``base64``. The consumer unwraps such a
    message when it reads it again (after ``versioned-msgs redrive``), so every record can
    be parked and comes back as it was.
    """
    raw = record.raw
    trigger = record.trigger
    dropped: list[str] = []
    attrs: dict[str, Any] = {}
    data: str | bytes
    if trigger == SQS:
        attrs, dropped = boto3_attributes(raw.get("messageAttributes"))
        if ATTR_PARKED_ENCODING in attrs:  # already wrapped: park it as it came
            return raw["body"], attrs, dropped
        data = raw["body"]
    elif trigger == SNS:
        sns = raw["Sns"]
        attrs, dropped = boto3_attributes(sns.get("MessageAttributes"))
        data = sns["Message"]
    elif trigger == KINESIS:
        import base64

        data = base64.b64decode(raw["kinesis"]["data"])
    elif trigger == S3:
        data = msgspec.json.encode({"Records": [raw]}).decode()
    else:
        data = msgspec.json.encode(raw).decode()
    text = _sqs_text(data)
    if text is not None:
        return text, attrs, dropped
    import base64

    raw_bytes = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    attrs[ATTR_PARKED_ENCODING] = {"DataType": "String", "StringValue": "base64"}
    return base64.b64encode(raw_bytes).decode("ascii"), attrs, dropped


def _sqs_text(data: str | bytes) -> str | None:
    """``data`` as text SQS accepts as a body, or None when it cannot travel as it is."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    from .limits import sqs_text_ok

    return data if sqs_text_ok(data) else None
