"""Lambda events of every source, built from what the library's ``Publisher`` sends.

Each builder publishes the benchmark's orders through a real :class:`versioned_msgs.Publisher`
whose AWS clients are recorders (:class:`Recorder`, :class:`MemoryS3`): the stamps, bodies,
envelopes and S3 metadata are exactly what the library writes, and only AWS's own part (the
SNS envelope, the Kinesis record, the EventBridge event, the S3 notification, the SQS record
around each) is written here, in the shape AWS delivers it. Every event goes through
``json.dumps``/``json.loads`` at the end, so each record has fresh objects, as the Lambda
runtime hands them over.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus

import msgspec
import orders

import versioned_msgs as vm
from versioned_msgs._core.attributes import attributes_digest, sns_attribute

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:orders"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/orders"
BUCKET = "orders-archive"
EVENT_SOURCE = "orders-api"  # the EventBridge ``source`` our producer uses
SHARD = "shardId-000000000003"

_START = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
_SNS_SENDER = "AIDAIYLAVTDLUXBIEIX46"  # SNS's sender id on SQS records it delivers
_EVENTS_SENDER = "AIDAIE6VAXUQU2DKHA7DK"  # EventBridge's
_S3_SENDER = "AIDAJHIPRHEMV73VRJEBU"  # S3's


class Recorder:
    """The SNS, SQS, Kinesis and EventBridge clients a ``Publisher`` calls: each request is
    kept (``calls``, as keyword arguments) and answered as AWS answers a success."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def _keep(self, request: dict[str, Any]) -> str:
        self.calls.append(request)
        return f"{len(self.calls):08d}-0000-4000-8000-000000000000"

    def publish(self, **request: Any) -> dict[str, Any]:
        return {"MessageId": self._keep(request)}

    def send_message(self, **request: Any) -> dict[str, Any]:
        return {"MessageId": self._keep(request)}

    def put_record(self, **request: Any) -> dict[str, Any]:
        seq = 49590338271490256608559692538361571095921575989136588898 + len(self.calls)
        self._keep(request)
        return {"ShardId": SHARD, "SequenceNumber": str(seq)}

    def put_events(self, **request: Any) -> dict[str, Any]:
        ids = [self._keep(entry) for entry in request["Entries"]]
        return {"FailedEntryCount": 0, "Entries": [{"EventId": i} for i in ids]}


class _Body:
    """A ``StreamingBody`` stand-in over bytes already in memory (read, close)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, amt: int | None = None) -> bytes:
        return self.data if amt is None else self.data[:amt]

    def close(self) -> None:
        pass


class MemoryS3:
    """An S3 client stub whose objects live in memory: ``put_object`` (what the Publisher
    calls) stores the body, ``Metadata`` and ``ContentType``; ``get_object`` and
    ``head_object`` answer from the store as S3 does, honouring ``IfMatch``. No network:
    the S3 rows measure everything but the request itself."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.gets = 0

    def put_object(self, **request: Any) -> dict[str, Any]:
        body = bytes(request["Body"])
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        self.objects[(request["Bucket"], request["Key"])] = {
            "body": body,
            "ETag": etag,
            "ContentType": request.get("ContentType", "binary/octet-stream"),
            "Metadata": dict(request.get("Metadata") or {}),
        }
        return {"ETag": etag}

    def _find(self, request: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        obj = self.objects.get((request["Bucket"], request["Key"]))
        if obj is None:
            raise ClientError(
                {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
                "GetObject",
            )
        match = request.get("IfMatch")
        if match is not None and match != obj["ETag"]:
            raise ClientError(
                {
                    "Error": {"Code": "PreconditionFailed"},
                    "ResponseMetadata": {"HTTPStatusCode": 412},
                },
                "GetObject",
            )
        return obj

    def head_object(self, **request: Any) -> dict[str, Any]:
        obj = self._find(request)
        return {
            "ContentLength": len(obj["body"]),
            "ContentType": obj["ContentType"],
            "ETag": obj["ETag"],
            "Metadata": obj["Metadata"],
        }

    def get_object(self, **request: Any) -> dict[str, Any]:
        self.gets += 1
        obj = self._find(request)
        return {
            "Body": _Body(obj["body"]),
            "ContentLength": len(obj["body"]),
            "ContentType": obj["ContentType"],
            "ETag": obj["ETag"],
            "Metadata": obj["Metadata"],
        }


def orders_at(registry: vm.Registry, count: int, *, seed: int = 11) -> list[Any]:
    """``count`` current-version orders as ``registry``'s model instances (Structs or
    pydantic models), the messages every source's event carries."""
    rng = random.Random(seed)
    model = registry.model(orders.TYPE, orders.CURRENT)
    out = []
    for n in range(count):
        payload = orders.order_payload(rng, n, orders.CURRENT)
        if issubclass(model, msgspec.Struct):
            out.append(msgspec.convert(payload, model))
        else:
            out.append(model.model_validate(payload))
    return out


def publisher(
    registry: vm.Registry, recorder: Recorder, s3: MemoryS3 | None = None
) -> vm.Publisher:
    return vm.Publisher(
        registry,
        sns=recorder,
        sqs=recorder,
        kinesis=recorder,
        events=recorder,
        s3=s3,
        producer=orders.PRODUCER,
        pins={},
    )


def _fresh(event: Any) -> Any:
    """Through JSON, as Lambda's runtime hands an event over: fresh objects everywhere."""
    return json.loads(json.dumps(event))


def _sqs_record(
    n: int,
    body: str,
    lambda_attrs: dict[str, Any],
    *,
    sender: str,
    sent: datetime,
    digest: bool,
) -> dict[str, Any]:
    """An SQS record as Lambda delivers it; AWS leaves ``md5OfMessageAttributes`` out when
    the message has no attributes, so ``digest`` is only honoured when it has some."""
    rng = random.Random(n * 7919)
    ms = int(sent.timestamp() * 1000)
    record: dict[str, Any] = {
        "messageId": f"{rng.getrandbits(32):08x}-5c2b-4e8a-9f1d-{n:012d}",
        "receiptHandle": f"AQEB{rng.getrandbits(256):064x}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(ms),
            "SenderId": sender,
            "ApproximateFirstReceiveTimestamp": str(ms + 4),
        },
        "messageAttributes": lambda_attrs,
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }
    if lambda_attrs and digest:
        record["md5OfMessageAttributes"] = attributes_digest(lambda_attrs)
    return record


def _iso_ms(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def sns_envelope(n: int, request: dict[str, Any], sent: datetime) -> str:
    """The SNS envelope SNS writes into an SQS body when raw message delivery is off, for one
    ``Publish`` request: pretty-printed as AWS prints it (two-space indent, ``"Key" : value``,
    each attribute on one line), with a signature and URLs of AWS's real lengths."""
    rng = random.Random(n * 104729)
    mid = f"{rng.getrandbits(32):08x}-6ec0-54fe-b63f-{n:012x}"
    signature = base64.b64encode(rng.randbytes(256)).decode()  # RSA-2048, as SNS signs
    sub = f"{TOPIC_ARN}:15189ad7-870e-40e5-a7dd-a48898cd9f86"
    fields: list[tuple[str, str]] = [
        ("Type", "Notification"),
        ("MessageId", mid),
        ("TopicArn", request["TopicArn"]),
    ]
    if request.get("Subject") is not None:
        fields.append(("Subject", request["Subject"]))
    fields += [
        ("Message", request["Message"]),
        ("Timestamp", _iso_ms(sent)),
        ("SignatureVersion", "1"),
        ("Signature", signature),
        (
            "SigningCertURL",
            f"https://sns.{REGION}.amazonaws.com/"
            "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        ),
        (
            "UnsubscribeURL",
            f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={sub}",
        ),
    ]
    lines = [f"  {json.dumps(k)} : {json.dumps(v)}" for k, v in fields]
    attrs = request.get("MessageAttributes") or {}
    if attrs:
        inner = ",\n".join(
            f"    {json.dumps(name)} : {json.dumps(sns_attribute(a), separators=(',', ':'))}"
            for name, a in attrs.items()
        )
        lines.append(f'  "MessageAttributes" : {{\n{inner}\n  }}')
    return "{\n" + ",\n".join(lines) + "\n}"


def sns_sqs_event(
    registry: vm.Registry, msgs: list[Any], *, raw_delivery: bool = False
) -> dict[str, Any]:
    """An SQS event from a queue subscribed to an SNS topic, each message published with
    ``Publisher.publish`` (its stamp and a ``tenant`` attribute in ``MessageAttributes``).

    Raw delivery off (the default): each body is the pretty-printed SNS envelope
    (:func:`sns_envelope`), the stamp in the envelope's ``MessageAttributes``, and the SQS
    record carries no message attributes of its own (``{}``, and no digest), as AWS delivers
    it. Raw delivery on: the body is the message itself and SNS copies its attributes into
    SQS message attributes (with SQS's ``md5OfMessageAttributes``).
    """
    rec = Recorder()
    pub = publisher(registry, rec)
    for msg in msgs:
        pub.publish(TOPIC_ARN, msg, attributes={"tenant": "acme"})
    records = []
    for n, request in enumerate(rec.calls):
        sent = _START + timedelta(milliseconds=n)
        if raw_delivery:
            attrs = orders.lambda_attributes(request["MessageAttributes"])
            records.append(
                _sqs_record(
                    n, request["Message"], attrs, sender=_SNS_SENDER, sent=sent, digest=True
                )
            )
        else:
            body = sns_envelope(n, request, sent)
            records.append(_sqs_record(n, body, {}, sender=_SNS_SENDER, sent=sent, digest=True))
    return _fresh({"Records": records})


def kinesis_event(registry: vm.Registry, msgs: list[Any]) -> dict[str, Any]:
    """A Kinesis event of one shard, each record put with ``Publisher.put_record`` (its data
    the embedded envelope ``{"vmsg": {...}, "data": ...}``, base64 in the Lambda record)."""
    rec = Recorder()
    pub = publisher(registry, rec)
    for msg in msgs:
        pub.put_record("orders", msg, partition_key=lambda m: m.order_id)
    records = []
    base = 49590338271490256608559692538361571095921575989136588898
    for n, request in enumerate(rec.calls):
        seq = str(base + n * 1000)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": request["PartitionKey"],
                    "sequenceNumber": seq,
                    "data": base64.b64encode(request["Data"]).decode(),
                    "approximateArrivalTimestamp": _START.timestamp() + n / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{SHARD}:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/orders-consumer",
                "awsRegion": REGION,
                "eventSourceARN": STREAM_ARN,
            }
        )
    return _fresh({"Records": records})


def _eventbridge_events(registry: vm.Registry, msgs: list[Any]) -> list[dict[str, Any]]:
    """One EventBridge event per message put with ``Publisher.put_events``: ``detail`` the
    embedded envelope, ``detail-type`` the message type, as EventBridge delivers it."""
    rec = Recorder()
    pub = publisher(registry, rec)
    pub.put_events(msgs, source=EVENT_SOURCE)
    out = []
    for n, entry in enumerate(rec.calls):
        rng = random.Random(n * 15485863)
        out.append(
            {
                "version": "0",
                "id": f"{rng.getrandbits(32):08x}-dc3a-93ca-6c1e-{n:012x}",
                "detail-type": entry["DetailType"],
                "source": entry["Source"],
                "account": ACCOUNT,
                "time": (_START + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": REGION,
                "resources": [],
                "detail": json.loads(entry["Detail"]),
            }
        )
    return out


def eventbridge_lambda_events(registry: vm.Registry, msgs: list[Any]) -> list[dict[str, Any]]:
    """The events EventBridge invokes a Lambda function with: one per message, each its own
    invocation (already a dict: the runtime decoded it)."""
    return [_fresh(e) for e in _eventbridge_events(registry, msgs)]


def eventbridge_sqs_event(registry: vm.Registry, msgs: list[Any]) -> dict[str, Any]:
    """An SQS event from a queue that is an EventBridge rule's target: each body the event
    as compact JSON, no message attributes."""
    records = [
        _sqs_record(
            n,
            json.dumps(e, separators=(",", ":")),
            {},
            sender=_EVENTS_SENDER,
            sent=_START + timedelta(milliseconds=n),
            digest=True,
        )
        for n, e in enumerate(_eventbridge_events(registry, msgs))
    ]
    return _fresh({"Records": records})


def s3_sqs_event(registry: vm.Registry, msgs: list[Any], s3: MemoryS3) -> dict[str, Any]:
    """An SQS event from a queue that receives a bucket's notifications: each message is
    written with ``Publisher.put_object`` into ``s3`` (stamp in ``Metadata``), and each SQS
    body is the compact S3 notification of that object (``ObjectCreated:Put``, the key
    URL-encoded, with ``size`` and ``eTag`` as S3 writes them)."""
    pub = publisher(registry, Recorder(), s3)
    records = []
    for n, msg in enumerate(msgs):
        key = f"orders/2026/11/27/{msg.order_id}.json"
        etag = pub.put_object(BUCKET, key, msg)["ETag"]
        size = len(s3.objects[(BUCKET, key)]["body"])
        rng = random.Random(n * 32452843)
        t = _START + timedelta(milliseconds=n)
        note = {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventTime": _iso_ms(t),
                    "eventName": "ObjectCreated:Put",
                    "userIdentity": {"principalId": "AWS:AROAEXAMPLE:orders-api"},
                    "requestParameters": {"sourceIPAddress": "10.0.12.34"},
                    "responseElements": {
                        "x-amz-request-id": f"{rng.getrandbits(64):016X}",
                        "x-amz-id-2": base64.b64encode(rng.randbytes(57)).decode(),
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "orders-created",
                        "bucket": {
                            "name": BUCKET,
                            "ownerIdentity": {"principalId": "A1YQ72UWCM96UF"},
                            "arn": f"arn:aws:s3:::{BUCKET}",
                        },
                        "object": {
                            "key": quote_plus(key, safe="/"),
                            "size": size,
                            "eTag": etag.strip('"'),
                            "sequencer": f"00{int(t.timestamp() * 1e6):X}{n:06X}",
                        },
                    },
                }
            ]
        }
        body = json.dumps(note, separators=(",", ":"))
        records.append(_sqs_record(n, body, {}, sender=_S3_SENDER, sent=t, digest=True))
    return _fresh({"Records": records})
