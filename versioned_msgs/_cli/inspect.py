"""``versioned-msgs inspect``: the stamp of an S3 object, or a histogram of queued messages."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .._aws.s3reader import DEFAULT_MAX_BYTES
from .._core.attributes import PREFIX
from .._core.envelope import unembed
from .._core.errors import VersionedMsgsError
from .._core.registry import Registry, converter_forms
from .._core.routing import route
from .._core.stamp import Stamp
from .console import table

__all__ = ["DEFAULT_MAX_BYTES", "inspect_object", "inspect_queue", "message_stamp"]

_PEEK_ROUNDS_WITHOUT_NEWS = 2


def _stamp_rows(stamp: Stamp | None, carrier: str) -> list[tuple[str, object]]:
    if stamp is None:
        return [("stamp", "none (unversioned)")]
    return [
        ("stamp", carrier),
        ("type", stamp.type),
        ("version", stamp.version),
        ("readable-by", stamp.readable_by),
        ("producer", stamp.producer),
        ("content-type", stamp.content_type),
    ]


def _summary(body: bytes, limit: int = 60) -> str:
    """The top-level fields of a JSON body, briefly."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            return type(data).__name__
        parts = []
        for k, v in data.items():
            text = json.dumps(v, separators=(",", ":"))
            parts.append(f"{k}={text if len(text) <= limit else text[: limit - 3] + '...'}")
    except ValueError:
        return f"{len(body)} bytes, not JSON"
    except RecursionError:  # nested deeper than the interpreter's recursion limit
        return f"{len(body)} bytes, JSON nested too deeply to show"
    return ", ".join(parts) if parts else "{}"


def _decode_row(registry: Registry, body: bytes, stamp: Stamp | None) -> tuple[str, object]:
    try:
        msg, meta = registry.decode(body, stamp)
    except VersionedMsgsError as exc:
        return ("decode", f"FAILS: {exc}")
    how = "as is"
    into = type(msg).__qualname__
    if meta.upgraded_from is not None:
        forms = converter_forms(registry, meta.type)
        steps = ", ".join(
            f"v{v}->v{v + 1} {forms['upgrader', v]}"
            for v in range(meta.upgraded_from, meta.model_version)
        )
        how = f"upgraded v{meta.upgraded_from} -> v{meta.model_version}"
        into += f" (upgraders: {steps})"
    elif meta.tolerated:
        how = f"tolerated (v{meta.version} read by the v{meta.model_version} model)"
    return ("decode", f"OK {how} into {into}")


def inspect_object(
    s3: Any,
    bucket: str,
    key: str,
    *,
    registry: Registry | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> int:
    """Print one object's stamp, metadata and a decoded summary; returns the exit status.

    The body is read only when it is at most ``max_bytes``; a larger object shows its stamp
    and headers alone.
    """
    obj = s3.get_object(Bucket=bucket, Key=key)
    size = obj.get("ContentLength")
    too_large = isinstance(size, int) and size > max_bytes
    if too_large:
        obj["Body"].close()
        body = b""
    else:
        body = obj["Body"].read(max_bytes + 1)
        too_large = len(body) > max_bytes
    metadata: dict[str, str] = obj.get("Metadata", {})
    carrier = "S3 metadata"
    try:
        stamp = Stamp.from_s3_metadata(metadata, content_type=obj.get("ContentType"))
    except VersionedMsgsError as exc:
        print(f"s3://{bucket}/{key}: malformed stamp: {exc}")
        return 1
    data = body
    if stamp is None and not too_large:
        try:
            stamp, data = unembed(body)
        except VersionedMsgsError as exc:
            print(f"s3://{bucket}/{key}: malformed embedded envelope: {exc}")
            return 1
        carrier = "embedded envelope"
    user = {k: v for k, v in metadata.items() if not k.lower().startswith(PREFIX)}
    rows: list[tuple[str, object]] = [
        ("object", f"s3://{bucket}/{key}"),
        ("size", obj.get("ContentLength", len(body))),
        ("etag", obj.get("ETag")),
        ("version-id", obj.get("VersionId")),
        ("content-type", obj.get("ContentType")),
        ("last-modified", obj.get("LastModified")),
    ]
    rows += [("metadata", f"{k}={v}") for k, v in sorted(user.items())]
    rows += _stamp_rows(stamp, carrier)
    if too_large:
        rows.append(("payload", f"not read: larger than --max-bytes ({max_bytes} bytes)"))
    else:
        if stamp is not None and registry is not None:
            rows.append(_decode_row(registry, body, None if carrier != "S3 metadata" else stamp))
        rows.append(("payload", _summary(data)))
    print(table(("field", "value"), [(k, "-" if v is None else str(v)) for k, v in rows]))
    return 0


def message_stamp(message: dict[str, Any]) -> tuple[str, Stamp | None]:
    """(carrier, stamp) of a received SQS message: attributes, SNS envelope or embedded.

    Raises :class:`~versioned_msgs.StampError` when a stamp is present but malformed.
    """
    stamp = Stamp.from_message_attributes(message.get("MessageAttributes"))
    if stamp is not None:
        return "attributes", stamp
    body = message.get("Body", "")
    raw = body.encode() if isinstance(body, str) else bytes(body)
    if raw.lstrip().startswith(b"{"):
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to read
            doc = None
        if isinstance(doc, dict) and doc.get("Type") == "Notification" and "TopicArn" in doc:
            stamp = Stamp.from_message_attributes(doc.get("MessageAttributes"))
            if stamp is not None:
                return "SNS envelope", stamp
            inner = doc.get("Message")
            raw = inner.encode() if isinstance(inner, str) else b""
    stamp, _ = unembed(raw)
    return ("embedded" if stamp is not None else "none"), stamp


def inspect_queue(
    sqs: Any, queue_url: str, *, limit: int = 100, registry: Registry | None = None
) -> int:
    """Peek at up to ``limit`` messages without consuming them and print a histogram.

    Messages are received with ``VisibilityTimeout=0`` so they stay available; each peek
    still counts as a receive (``ApproximateReceiveCount``, and a redrive policy's
    ``maxReceiveCount``).
    """
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    seen: set[str] = set()
    counts: Counter[tuple[str, str, str, str]] = Counter()
    quiet_rounds = 0
    while len(seen) < limit and quiet_rounds < _PEEK_ROUNDS_WITHOUT_NEWS:
        resp = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        new = [m for m in resp.get("Messages", []) if m["MessageId"] not in seen]
        quiet_rounds = 0 if new else quiet_rounds + 1
        for m in new:
            seen.add(m["MessageId"])
            counts[_classify(m, registry)] += 1
    rows = [
        (t, v, carrier, outcome, n)
        for (t, v, carrier, outcome), n in sorted(counts.items(), key=_sort_key)
    ]
    print(
        f"{queue_url}: about {attrs.get('ApproximateNumberOfMessages', '?')} visible, "
        f"{attrs.get('ApproximateNumberOfMessagesNotVisible', '?')} in flight; "
        f"peeked at {len(seen)}"
    )
    headers = ("type", "version", "stamp", "decode" if registry else "note", "count")
    print(table(headers, rows))
    return 0


def _sort_key(item: tuple[tuple[str, str, str, str], int]) -> tuple[str, int, str, str]:
    (t, v, carrier, outcome), _ = item
    return (t, int(v) if v.isdigit() else 0, carrier, outcome)


def _classify(message: dict[str, Any], registry: Registry | None) -> tuple[str, str, str, str]:
    try:
        carrier, stamp = message_stamp(message)
    except VersionedMsgsError as exc:
        return ("?", "?", "malformed", str(exc)[:60])
    if stamp is None:
        return ("(unversioned)", "-", carrier, "")
    outcome = ""
    if registry is not None:
        known = registry.current(stamp.type) if stamp.type in registry.types() else None
        outcome = {
            "as-is": "current",
            "upgrade": f"upgrades to v{known}",
            "tolerate": "tolerated",
            "newer": "newer than reader",
            "unknown": "unknown type",
        }[route(stamp.version, stamp.readable_by, known)]
    return (stamp.type, str(stamp.version), carrier, outcome)
