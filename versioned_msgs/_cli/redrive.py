"""``versioned-msgs redrive``: move parked messages back to the queue they came from.

Bodies and attributes travel unchanged except ``vmsg-parked-reason``, which is dropped. A
message leaves the park queue only after its send succeeded, so nothing is lost; a message
whose delete fails after a successful send may arrive twice (reported as such).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .._core.attributes import ATTR_PARKED_REASON, send_attribute
from .console import Progress, table

__all__ = ["RedriveResult", "outgoing_attributes", "redrive"]


class RedriveResult:
    """Counts of a redrive run."""

    def __init__(self, park_queue_url: str, queue_url: str) -> None:
        self.park_queue_url = park_queue_url
        self.queue_url = queue_url
        self.moved = 0
        self.send_failed: list[str] = []
        self.delete_failed: list[str] = []
        self.reasons: Counter[str] = Counter()
        self.parked_since = 0

    @property
    def complete(self) -> bool:
        """True when every received message was moved and removed from the park queue."""
        return not self.send_failed and not self.delete_failed

    def render(self) -> str:
        lines = []
        if self.reasons:
            rows = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
            lines.append(table(("parked reason", "messages"), rows))
        for mid in self.send_failed[:20]:
            lines.append(f"  not sent (stays parked): {mid}")
        for mid in self.delete_failed[:20]:
            lines.append(f"  sent but not deleted from the park queue (may repeat): {mid}")
        lines.append(
            f"redrive: moved {self.moved} messages to {self.queue_url}"
            + (f", {len(self.send_failed)} not sent" if self.send_failed else "")
            + (f", {len(self.delete_failed)} not deleted" if self.delete_failed else "")
            + (
                f"; {self.parked_since} parked after the redrive started were left"
                if self.parked_since
                else ""
            )
        )
        return "\n".join(lines)


def outgoing_attributes(received: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Received boto3 message attributes in the shape SendMessage takes, minus the park reason."""
    return {
        name: send_attribute(attr)
        for name, attr in (received or {}).items()
        if name != ATTR_PARKED_REASON
    }


def redrive(
    sqs: Any,
    park_queue_url: str,
    queue_url: str,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> RedriveResult:
    """Move up to ``limit`` messages (default: every message parked before the call).

    Messages parked after the redrive started are left in the park queue (made visible
    again and counted): if the consumer parks them again, a redrive must not chase them
    forever.
    """
    if park_queue_url == queue_url:
        raise ValueError(f"expected the park queue and the target to differ, got {queue_url}")
    result = RedriveResult(park_queue_url, queue_url)
    fifo = queue_url.endswith(".fifo")
    bar = progress or Progress("redrive")
    started_ms = int(time.time() * 1000)
    try:
        while limit is None or result.moved + len(result.send_failed) < limit:
            want = 10 if limit is None else min(10, limit - result.moved - len(result.send_failed))
            messages = sqs.receive_message(
                QueueUrl=park_queue_url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            older = [m for m in messages if _sent_ms(m) <= started_ms]
            newer = [m for m in messages if _sent_ms(m) > started_ms]
            for chunk in _by_size(older):
                _move(sqs, chunk, queue_url, fifo, result)
            bar.advance(len(older))
            if newer:
                _release(sqs, park_queue_url, newer)
                result.parked_since += len(newer)
                break
    finally:
        bar.close()
    return result


def _sent_ms(m: dict[str, Any]) -> int:
    try:
        return int((m.get("Attributes") or {}).get("SentTimestamp", "0"))
    except ValueError:
        return 0


def _release(sqs: Any, park_queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again at once (they stay parked)."""
    sqs.change_message_visibility_batch(
        QueueUrl=park_queue_url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ],
    )


# SendMessageBatch caps the sum of the batched messages (bodies and attributes) at 1 MiB.
_BATCH_BYTES = 1_048_576


def _size(m: dict[str, Any]) -> int:
    n = len(m["Body"].encode())
    for name, attr in (m.get("MessageAttributes") or {}).items():
        n += len(name.encode()) + len(attr["DataType"].encode())
        n += len(attr.get("StringValue", "").encode()) + len(attr.get("BinaryValue", b""))
    return n


def _by_size(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split received messages into send batches that stay under the batch size limit."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = 0
    for m in messages:
        size = _size(m)
        if current and used + size > _BATCH_BYTES:
            chunks.append(current)
            current, used = [], 0
        current.append(m)
        used += size
    if current:
        chunks.append(current)
    return chunks


def _move(
    sqs: Any, messages: list[dict[str, Any]], queue_url: str, fifo: bool, result: RedriveResult
) -> None:
    entries = []
    by_id: dict[str, dict[str, Any]] = {}
    for i, m in enumerate(messages):
        attrs = m.get("MessageAttributes") or {}
        reason = attrs.get(ATTR_PARKED_REASON, {}).get("StringValue")
        result.reasons[reason or "(no reason: not parked by versioned_msgs)"] += 1
        entry: dict[str, Any] = {"Id": str(i), "MessageBody": m["Body"]}
        kept = outgoing_attributes(attrs)
        if kept:
            entry["MessageAttributes"] = kept
        if fifo:
            system = m.get("Attributes") or {}
            entry["MessageGroupId"] = system.get("MessageGroupId", "redrive")
            entry["MessageDeduplicationId"] = system.get("MessageDeduplicationId", m["MessageId"])
        entries.append(entry)
        by_id[str(i)] = m
    resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    for failed in resp.get("Failed", []):
        result.send_failed.append(by_id[failed["Id"]]["MessageId"])
    sent = [by_id[s["Id"]] for s in resp.get("Successful", [])]
    if not sent:
        return
    deleted = sqs.delete_message_batch(
        QueueUrl=result.park_queue_url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)],
    )
    for failed in deleted.get("Failed", []):
        result.delete_failed.append(sent[int(failed["Id"])]["MessageId"])
    result.moved += len(sent)
