"""``versioned-msgs redrive``: move parked messages back to the queue they came from.

Bodies and attributes travel unchanged except ``vmsg-parked-reason``, which is dropped. A
message leaves the park queue only after its send succeeded, so nothing is lost.

Sends and deletes go through :func:`~versioned_msgs._aws.batch.run_batches`, as the
publisher's batches do: entries failing for a transient reason (and calls throttled whole)
are retried. Into a FIFO target, a group's later messages wait behind a failed one: when it
fails for good they stay parked with it (``PrecedingMessageFailed``), and the group's
messages received later in the run are held too, so no group arrives out of order.

A FIFO target gets the message group the parked message carries: SQS returns
``MessageGroupId`` for messages of a FIFO park queue (the consumer parks a record with its
group there). A message from a standard park queue carries none (the original group was
lost when it was parked), and becomes a group of its own, its park-queue message id: the
park queue kept no order to restore, and one message failing again holds back no other. The
deduplication id is the parked message's own, else its message id.

A message sent but not deleted from the park queue (the delete failed, retries included) is
in both queues: it is listed and counted as a possible duplicate, and the exit status is 1.
If the same run receives it again it is not sent again: its delete is retried instead.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .._aws.batch import BatchSuccess, EntryOutcome, run_batches
from .._aws.publisher import _id_outcomes
from .._core.attributes import ATTR_PARKED_REASON, send_attribute
from .console import Progress, table

__all__ = ["RedriveResult", "outgoing_attributes", "redrive"]

# SendMessageBatch and DeleteMessageBatch take 10 entries; SendMessageBatch caps the sum of
# the batched messages (bodies and attributes) at 1 MiB.
_BATCH_ENTRIES = 10
_BATCH_BYTES = 1_048_576
# Receives in a row bringing only messages this run has seen already: the run ends (a park
# queue with a short visibility timeout would otherwise hand them back forever).
_ROUNDS_WITHOUT_NEWS = 3

_LISTED = 20  # message ids listed per kind of failure; the counts cover them all


class RedriveResult:
    """Counts of a redrive run.

    ``send_failed``: ids of messages not sent (they stay parked), with ``send_codes``
    counting them by AWS's error code (``PrecedingMessageFailed`` for a FIFO group's
    messages held behind a failed one). ``delete_failed``: ids of messages sent but not
    deleted from the park queue, so in both queues (duplicates, if redriven again).
    """

    def __init__(self, park_queue_url: str, queue_url: str) -> None:
        self.park_queue_url = park_queue_url
        self.queue_url = queue_url
        self.moved = 0
        self.send_failed: list[str] = []
        self.send_codes: Counter[str] = Counter()
        self.delete_failed: list[str] = []
        self.delete_codes: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.parked_since = 0

    @property
    def duplicates(self) -> int:
        """Messages now in both queues: sent to the target, still in the park queue."""
        return len(self.delete_failed)

    @property
    def complete(self) -> bool:
        """True when every received message was moved and removed from the park queue."""
        return not self.send_failed and not self.delete_failed

    def render(self) -> str:
        lines = []
        if self.reasons:
            rows = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
            lines.append(table(("parked reason", "messages"), rows))
        for mid in self.send_failed[:_LISTED]:
            lines.append(f"  not sent (stays parked): {mid}")
        for mid in self.delete_failed[:_LISTED]:
            lines.append(f"  sent but not deleted (may arrive twice): {mid}")
        summary = f"redrive: moved {self.moved} messages to {self.queue_url}"
        if self.send_failed:
            summary += (
                f", {len(self.send_failed)} not sent (still parked: {_codes(self.send_codes)})"
            )
        if self.delete_failed:
            summary += (
                f", {self.duplicates} sent but not deleted from the park queue (they may arrive "
                f"twice: a redrive sends them again; {_codes(self.delete_codes)})"
            )
        if self.parked_since:
            summary += f"; {self.parked_since} parked after the redrive started were left"
        lines.append(summary)
        return "\n".join(lines)


def _codes(codes: Counter[str]) -> str:
    ranked = sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{code} {n}" for code, n in ranked)


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
    max_attempts: int = 3,
    backoff: float = 0.1,
) -> RedriveResult:
    """Move up to ``limit`` messages (default: every message parked before the call).

    Messages parked after the redrive started are left in the park queue (made visible
    again and counted): if the consumer parks them again, a redrive must not chase them
    forever. ``max_attempts`` and ``backoff`` govern retries, as on the publisher.
    """
    if park_queue_url == queue_url:
        raise ValueError(f"expected the park queue and the target to differ, got {queue_url}")
    result = RedriveResult(park_queue_url, queue_url)
    mover = _Mover(sqs, result, max_attempts=max_attempts, backoff=backoff)
    bar = progress or Progress("redrive")
    started_ms = int(time.time() * 1000)
    quiet = 0
    try:
        while limit is None or result.moved + len(result.send_failed) < limit:
            want = _BATCH_ENTRIES
            if limit is not None:
                want = min(want, limit - result.moved - len(result.send_failed))
            messages = sqs.receive_message(
                QueueUrl=park_queue_url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            fresh = [m for m in messages if m["MessageId"] not in mover.seen]
            mover.delete_again([m for m in messages if m["MessageId"] in mover.seen])
            quiet = 0 if fresh else quiet + 1
            if quiet >= _ROUNDS_WITHOUT_NEWS:
                break
            older = [m for m in fresh if _sent_ms(m) <= started_ms]
            newer = [m for m in fresh if _sent_ms(m) > started_ms]
            mover.move(older)
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


def _size(m: dict[str, Any]) -> int:
    n = len(m["Body"].encode())
    for name, attr in (m.get("MessageAttributes") or {}).items():
        n += len(name.encode()) + len(attr["DataType"].encode())
        n += len(attr.get("StringValue", "").encode()) + len(attr.get("BinaryValue", b""))
    return n


def _group_of(entry: dict[str, Any]) -> str | None:
    group: str | None = entry.get("MessageGroupId")
    return group


def _in_turns(batch: list[tuple[dict[str, Any], Any]]) -> list[tuple[dict[str, Any], Any]]:
    """Entries reordered as turns: every group's first message, then every group's second...
    (each group's order kept), so that calls holding one message per group stay full."""
    turn: Counter[str | None] = Counter()
    ranked = []
    for position, item in enumerate(batch):
        group = _group_of(item[0])
        ranked.append((turn[group], position, item))
        turn[group] += 1
    return [item for _, _, item in sorted(ranked, key=lambda r: (r[0], r[1]))]


class _Mover:
    """Sends received messages to the target and deletes them from the park queue,
    remembering across the run what it saw, sent, and which FIFO groups are held."""

    def __init__(
        self, sqs: Any, result: RedriveResult, *, max_attempts: int, backoff: float
    ) -> None:
        self.sqs = sqs
        self.result = result
        self.fifo = result.queue_url.endswith(".fifo")
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.seen: set[str] = set()
        self.sent: set[str] = set()
        # FIFO target: group -> the message whose failure holds the group's later ones
        self.held: dict[str, str] = {}

    def move(self, messages: list[dict[str, Any]]) -> None:
        result = self.result
        batch: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for m in messages:
            self.seen.add(m["MessageId"])
            attrs = m.get("MessageAttributes") or {}
            reason = attrs.get(ATTR_PARKED_REASON, {}).get("StringValue")
            result.reasons[reason or "(no reason: not parked by versioned_msgs)"] += 1
            entry = self._entry(m, attrs)
            if self.fifo and entry["MessageGroupId"] in self.held:
                self._not_sent(m, "PrecedingMessageFailed")
                continue
            batch.append((entry, m))
        if not batch:
            return
        if self.fifo:  # group by group in turn: each call holds one message of each group
            batch = _in_turns(batch)

        def send(chunk: list[tuple[int, dict[str, Any]]]) -> dict[int, EntryOutcome]:
            resp = self.sqs.send_message_batch(
                QueueUrl=result.queue_url, Entries=[{"Id": str(i), **e} for i, e in chunk]
            )
            return _id_outcomes(resp)

        sent = run_batches(
            [(entry, _size(m)) for entry, m in batch],
            send,
            max_entries=_BATCH_ENTRIES,
            max_bytes=_BATCH_BYTES,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            group_of=_group_of if self.fifo else None,
            one_per_group=True,
        )
        for failure in sent.failed:
            entry, m = batch[failure.index]
            self._not_sent(m, failure.code)
            if self.fifo:
                self.held.setdefault(entry["MessageGroupId"], m["MessageId"])
        moved = [batch[s.index][1] for s in sent.succeeded]
        self.sent.update(m["MessageId"] for m in moved)
        result.moved += len(moved)
        for m, code in self._delete(moved):
            result.delete_failed.append(m["MessageId"])
            result.delete_codes[code] += 1

    def delete_again(self, messages: list[dict[str, Any]]) -> None:
        """Messages this run received before: one it sent whose delete failed is deleted with
        its new receipt handle (never sent again); the others are left alone."""
        result = self.result
        retry = [
            m
            for m in messages
            if m["MessageId"] in self.sent and m["MessageId"] in result.delete_failed
        ]
        still = {m["MessageId"] for m, _ in self._delete(retry)}
        for m in retry:
            if m["MessageId"] not in still:
                result.delete_failed.remove(m["MessageId"])

    def _entry(self, m: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {"MessageBody": m["Body"]}
        kept = outgoing_attributes(attrs)
        if kept:
            entry["MessageAttributes"] = kept
        if self.fifo:
            system = m.get("Attributes") or {}
            entry["MessageGroupId"] = system.get("MessageGroupId") or m["MessageId"]
            entry["MessageDeduplicationId"] = system.get("MessageDeduplicationId") or m["MessageId"]
        return entry

    def _not_sent(self, m: dict[str, Any], code: str) -> None:
        self.result.send_failed.append(m["MessageId"])
        self.result.send_codes[code] += 1

    def _delete(self, messages: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """Delete ``messages`` from the park queue; returns those that could not be, each
        with the error code."""
        if not messages:
            return []

        def delete(chunk: list[tuple[int, str]]) -> dict[int, EntryOutcome]:
            resp = self.sqs.delete_message_batch(
                QueueUrl=self.result.park_queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in chunk],
            )
            out = _id_outcomes({"Failed": resp.get("Failed", [])})
            for ok in resp.get("Successful", []):
                i = int(ok["Id"])
                out[i] = EntryOutcome(BatchSuccess(index=i, message_id=messages[i]["MessageId"]))
            return out

        done = run_batches(
            [(m["ReceiptHandle"], 0) for m in messages],
            delete,
            max_entries=_BATCH_ENTRIES,
            max_bytes=_BATCH_BYTES,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
        )
        return [(messages[f.index], f.code) for f in done.failed]
