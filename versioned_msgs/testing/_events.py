"""Lambda-shaped events: built from :class:`Encoded` values (tests, demos), or from what
boto3's SQS ``receive_message`` returned (the ``worker`` CLI runs handlers that way).

The shapes follow what Lambda delivers for each trigger, quirks included: SQS records use
camelCase ``messageAttributes`` (``stringValue``/``dataType``), SNS uses ``Type``/``Value``,
an SNS envelope in an SQS body is pretty-printed JSON, S3 keys are URL-encoded, Kinesis data
is base64.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote_plus

from .._core.attributes import lambda_attribute, sns_attribute
from .._core.envelope import Encoded

__all__ = [
    "eventbridge_event",
    "kinesis_event",
    "lambda_kinesis_event",
    "lambda_sqs_event",
    "s3_event",
    "sns_event",
    "sns_sqs_event",
    "sqs_event",
]

REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/stream"


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def _md5(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _user_attributes(attributes: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The user's attributes in boto3 shape: plain values are converted, boto3 ones kept."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in (attributes or {}).items():
        if isinstance(value, Mapping):
            out[name] = dict(value)
        elif isinstance(value, bool):
            out[name] = {"DataType": "String", "StringValue": str(value).lower()}
        elif isinstance(value, int | float):
            out[name] = {"DataType": "Number", "StringValue": str(value)}
        elif isinstance(value, bytes | bytearray):
            out[name] = {"DataType": "Binary", "BinaryValue": bytes(value)}
        else:
            out[name] = {"DataType": "String", "StringValue": str(value)}
    return out


def _boto3_attrs(enc: Encoded, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    attrs: dict[str, Any] = _user_attributes(attributes)
    attrs.update(enc.stamp.to_message_attributes())
    return attrs


def _sqs_record(
    body: str,
    attrs: Mapping[str, Mapping[str, Any]],
    *,
    queue_arn: str,
    group_id: str | None,
    seq: int,
) -> dict[str, Any]:
    now = _now_ms()
    system: dict[str, str] = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": now,
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": now,
    }
    if group_id is not None:
        system["SequenceNumber"] = str(18849496460467696128 + seq)
        system["MessageGroupId"] = group_id
        system["MessageDeduplicationId"] = hashlib.sha256(f"{seq}:{body}".encode()).hexdigest()
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": system,
        "messageAttributes": {k: lambda_attribute(v) for k, v in attrs.items()},
        "md5OfBody": _md5(body),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else REGION,
    }


def sqs_event(
    *encoded: Encoded,
    group_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    queue_arn: str | None = None,
    embed: bool = False,
) -> dict[str, Any]:
    """An SQS Lambda event with one record per encoded message, stamped in attributes.

    ``group_id`` makes it a FIFO queue's event; ``attributes`` adds the user's own
    (plain values or boto3-shaped); ``embed=True`` also wraps the body in the envelope.
    """
    arn = queue_arn or (QUEUE_ARN + ".fifo" if group_id is not None else QUEUE_ARN)
    return {
        "Records": [
            _sqs_record(
                (enc.embedded() if embed else enc.body).decode(),
                _boto3_attrs(enc, attributes),
                queue_arn=arn,
                group_id=group_id,
                seq=i,
            )
            for i, enc in enumerate(encoded)
        ]
    }


def _sns_attrs(enc: Encoded, attributes: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    return {name: sns_attribute(attr) for name, attr in _boto3_attrs(enc, attributes).items()}


def _sns_message(
    enc: Encoded, attributes: Mapping[str, Any] | None, topic_arn: str
) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Subject": None,
        "Message": enc.body.decode(),
        "Timestamp": _iso_now(),
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
        "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        "MessageAttributes": _sns_attrs(enc, attributes),
    }


def sns_event(
    *encoded: Encoded,
    attributes: Mapping[str, Any] | None = None,
    topic_arn: str = TOPIC_ARN,
) -> dict[str, Any]:
    """An SNS→Lambda event (one record per message; Lambda itself sends one per invoke)."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": _sns_message(enc, attributes, topic_arn),
            }
            for enc in encoded
        ]
    }


def _pretty_envelope(msg: Mapping[str, Any]) -> str:
    """The SNS envelope as SNS writes it into SQS: pretty-printed, ``"Key" : value``."""
    import json

    keys = ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp"]
    keys += ["SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"]
    doc = {k: msg[k] for k in keys[:6] if k in msg and msg[k] is not None}
    doc.update(
        {
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": msg["SigningCertUrl"],
            "UnsubscribeURL": msg["UnsubscribeUrl"],
        }
    )
    if msg.get("MessageAttributes"):
        doc["MessageAttributes"] = msg["MessageAttributes"]
    return json.dumps(doc, indent=2, separators=(",", " : "))


def sns_sqs_event(
    *encoded: Encoded,
    raw: bool = False,
    attributes: Mapping[str, Any] | None = None,
    topic_arn: str = TOPIC_ARN,
    queue_arn: str = QUEUE_ARN,
) -> dict[str, Any]:
    """An SQS event as an SNS subscription delivers it: the pretty-printed SNS envelope in
    the body (stamp in its ``MessageAttributes``), or with ``raw=True`` the bare message
    with the attributes as SQS message attributes."""
    records = []
    for i, enc in enumerate(encoded):
        if raw:
            body = enc.body.decode()
            attrs = _boto3_attrs(enc, attributes)
        else:
            body = _pretty_envelope(_sns_message(enc, attributes, topic_arn))
            attrs = {}
        records.append(_sqs_record(body, attrs, queue_arn=queue_arn, group_id=None, seq=i))
    return {"Records": records}


def s3_event(
    bucket: str,
    key: str,
    etag: str | None = None,
    version_id: str | None = None,
    *,
    event_name: str = "ObjectCreated:Put",
    size: int | None = None,
) -> dict[str, Any]:
    """An S3→Lambda notification for one object (the key URL-encoded as S3 sends it).

    Real notifications always carry the object's ``size``; give it to exercise the read
    that trusts it (no HeadObject). Without it the consumer asks S3 with a HeadObject.
    """
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if size is not None:
        obj["size"] = size
    if etag is not None:
        obj["eTag"] = etag.strip('"')
    if version_id is not None:
        obj["versionId"] = version_id
    obj["sequencer"] = f"{time.time_ns():X}"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": _iso_now(),
                "eventName": event_name,
                "userIdentity": {"principalId": "AWS:EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                    "x-amz-id-2": "EXAMPLE",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "versioned-msgs",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


def _kinesis_record(
    data: bytes, partition_key: str, seq: str, arrival: float, *, shard_id: str, stream_arn: str
) -> dict[str, Any]:
    """One record of a Lambda Kinesis event, shaped as Lambda delivers it."""
    region = stream_arn.split(":")[3] if stream_arn.count(":") >= 5 else REGION
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/lambda-role",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


_SHARD = "shardId-000000000000"


def kinesis_event(
    *encoded: Encoded, partition_key: str = "pk", stream_arn: str = STREAM_ARN
) -> dict[str, Any]:
    """A Kinesis event; each record's data is the embedded envelope, base64-encoded."""
    base = 49590338271490256608559692538361571095921575989136588898
    now = time.time()
    return {
        "Records": [
            _kinesis_record(
                enc.embedded(),
                partition_key,
                str(base + i * 1000),
                now,
                shard_id=_SHARD,
                stream_arn=stream_arn,
            )
            for i, enc in enumerate(encoded)
        ]
    }


def lambda_kinesis_event(
    records: Iterable[Mapping[str, Any]] | Mapping[str, Any],
    stream_arn: str,
    *,
    shard_id: str = _SHARD,
) -> dict[str, Any]:
    """Shape boto3 Kinesis ``get_records`` output as Lambda's Kinesis trigger would deliver
    it (``records`` is the ``Records`` list or the whole response; ``shard_id`` the shard
    they were read from)."""
    items: Iterable[Mapping[str, Any]] = (
        records.get("Records", []) if isinstance(records, Mapping) else records
    )
    out = []
    for r in items:
        arrival = r.get("ApproximateArrivalTimestamp")
        out.append(
            _kinesis_record(
                r["Data"],
                r["PartitionKey"],
                r["SequenceNumber"],
                arrival.timestamp() if isinstance(arrival, datetime) else time.time(),
                shard_id=shard_id,
                stream_arn=stream_arn,
            )
        )
    return {"Records": out}


def eventbridge_event(*encoded: Encoded, source: str = "app") -> dict[str, Any]:
    """The EventBridge event for one message: ``detail`` is the embedded envelope and
    ``detail-type`` the message type. EventBridge invokes Lambda with one event at a time,
    so exactly one message is expected."""
    import json

    if len(encoded) != 1:
        raise ValueError(
            f"eventbridge_event: expected exactly one message (EventBridge invokes Lambda "
            f"with one event), got {len(encoded)}"
        )
    enc = encoded[0]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": enc.stamp.type,
        "source": source,
        "account": ACCOUNT,
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": json.loads(enc.embedded()),
    }


def lambda_sqs_event(
    messages: Iterable[Mapping[str, Any]] | Mapping[str, Any], queue_arn: str
) -> dict[str, Any]:
    """Shape boto3 ``receive_message`` output as Lambda's SQS trigger would deliver it.

    ``messages`` is the ``Messages`` list (or the whole response). Receive with
    ``MessageAttributeNames=["All"]`` and ``AttributeNames=["All"]`` so stamps and FIFO
    group ids come along.
    """
    items: Iterable[Mapping[str, Any]] = (
        messages.get("Messages", []) if isinstance(messages, Mapping) else messages
    )
    region = queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else REGION
    records = []
    for m in items:
        attrs = m.get("MessageAttributes") or {}
        rec: dict[str, Any] = {
            "messageId": m["MessageId"],
            "receiptHandle": m.get("ReceiptHandle", ""),
            "body": m["Body"],
            "attributes": dict(m.get("Attributes") or {}),
            "messageAttributes": {k: lambda_attribute(v) for k, v in attrs.items()},
            "md5OfBody": m.get("MD5OfBody") or _md5(m["Body"]),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if m.get("MD5OfMessageAttributes"):
            rec["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"]
        records.append(rec)
    return {"Records": records}
