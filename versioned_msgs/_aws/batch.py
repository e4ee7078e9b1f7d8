"""Batch sends: chunk by entry count and request size, retry only failed entries, report all.

The transport-specific part (building the request, reading the answer) is a callable handed
to :func:`run_batches`; this module knows nothing about a service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import msgspec

from .error_codes import THROTTLED, error_code, error_message

__all__ = ["BatchFailure", "BatchResult", "BatchSuccess", "EntryOutcome", "run_batches"]

_E = TypeVar("_E")


class BatchSuccess(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One entry AWS accepted. ``index`` is its position in the messages you passed.

    ``message_id`` is the SQS/SNS MessageId, the EventBridge EventId or the Kinesis
    SequenceNumber; ``sequence_number`` (FIFO, Kinesis) and ``shard_id`` (Kinesis) when given.
    """

    index: int
    message_id: str
    sequence_number: str | None = None
    shard_id: str | None = None


class BatchFailure(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One entry that finally failed: AWS's error ``code`` and ``message``.

    ``retryable`` says whether AWS marked the last failure as transient (it was retried
    ``attempts`` times in all); ``False`` means the entry itself is at fault.
    """

    index: int
    code: str
    message: str
    retryable: bool = False
    attempts: int = 1


class BatchResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch send did: every success and every final failure, ordered by ``index``."""

    succeeded: list[BatchSuccess]
    failed: list[BatchFailure]

    @property
    def ok(self) -> bool:
        """True when every entry was accepted."""
        return not self.failed

    @property
    def message_ids(self) -> list[str]:
        """The ids of the accepted entries, in message order."""
        return [s.message_id for s in self.succeeded]


class EntryOutcome(msgspec.Struct, frozen=True, gc=False):
    """The answer for one entry of one call: a success, or a failure and whether to retry."""

    success: BatchSuccess | None = None
    code: str = ""
    message: str = ""
    retryable: bool = False


Call = Callable[[list[tuple[int, _E]]], dict[int, EntryOutcome]]


class _Sized(Generic[_E]):
    __slots__ = ("entry", "index", "size")

    def __init__(self, index: int, entry: _E, size: int) -> None:
        self.index = index
        self.entry = entry
        self.size = size


def chunks(
    items: Sequence[_Sized[_E]],
    max_entries: int,
    max_bytes: int,
    group_of: Callable[[_E], str | None] | None = None,
) -> Iterator[list[_Sized[_E]]]:
    """Consecutive runs of at most ``max_entries`` entries and ``max_bytes`` bytes; with
    ``group_of``, holding at most one entry of each message group."""
    chunk: list[_Sized[_E]] = []
    size = 0
    groups: set[str] = set()
    for item in items:
        group = group_of(item.entry) if group_of is not None else None
        if chunk and (
            len(chunk) == max_entries
            or size + item.size > max_bytes
            or (group is not None and group in groups)
        ):
            yield chunk
            chunk, size = [], 0
            groups.clear()
        chunk.append(item)
        size += item.size
        if group is not None:
            groups.add(group)
    if chunk:
        yield chunk


def run_batches(
    entries: Sequence[tuple[_E, int]],
    call: Call[_E],
    *,
    max_entries: int,
    max_bytes: int,
    max_attempts: int,
    backoff: float,
    group_of: Callable[[_E], str | None] | None = None,
    one_per_group: bool = False,
    sleep: Callable[[float], Any] = time.sleep,
) -> BatchResult:
    """Send ``entries`` (each with its size) in chunks; retry retryable failures only.

    ``call`` sends one chunk of ``(index, entry)`` pairs and returns an outcome per index; an
    index it leaves out is reported as failed (code ``MissingFromResponse``). A request that
    fails as a whole (botocore has already retried throttling and 5xx) fails its entries
    with the error's code, and the other chunks still go out. A request throttled as a whole
    (a code in ``THROTTLED``: nothing of it was accepted) is retryable, and its entries are
    retried like throttled entries; any other whole-request failure is final, since AWS may
    have accepted part of it. Retries wait an exponentially growing, fully jittered delay
    (``backoff`` x 2^attempt).

    ``group_of`` (FIFO targets) keeps each message group in order: once an entry of a group
    fails, the group's later entries are held back and go out behind it when it is retried,
    or fail with ``PrecedingMessageFailed`` when it cannot be; an entry overtaken by a later
    accepted entry of its group is not retried. AWS may accept an entry after a failed one of
    its group in the same call: ``one_per_group`` puts at most one entry of each group in a
    call, so that cannot happen and a group's order survives any failure (at the cost of a
    call per entry for a single group; order entries group by group in turn to fill calls).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    pending = [_Sized(i, entry, size) for i, (entry, size) in enumerate(entries)]
    succeeded: list[BatchSuccess] = []
    failed: dict[int, BatchFailure] = {}
    attempt = 0
    while pending:
        attempt += 1
        retry: list[_Sized[_E]] = []
        # group -> index of its first failed entry this round, and whether it is retried
        blocked: dict[str, tuple[int, bool]] = {}
        split_by = group_of if one_per_group else None
        for chunk in chunks(pending, max_entries, max_bytes, split_by):
            send = chunk
            if group_of is not None:
                send = []
                for item in chunk:
                    group = group_of(item.entry)
                    block = blocked.get(group) if group is not None else None
                    if block is None:
                        send.append(item)
                        continue
                    first, retried = block
                    failed[item.index] = BatchFailure(
                        index=item.index,
                        code="PrecedingMessageFailed",
                        message=f"not sent: message {first} of group {group!r} failed before "
                        "it, and sending this one first would break the group's order",
                        retryable=retried,
                        attempts=attempt,
                    )
                    if retried:
                        retry.append(item)
            if not send:
                continue
            pairs = [(item.index, item.entry) for item in send]
            try:
                outcomes = call(pairs)
            except (ClientError, BotoCoreError) as exc:
                # BotoCoreError (a timeout, say) has no AWS code: its class names it.
                code = error_code(exc) or type(exc).__name__
                message = error_message(exc)
                throttled = isinstance(exc, ClientError) and code in THROTTLED
                outcomes = {
                    i: EntryOutcome(code=code, message=message, retryable=throttled)
                    for i, _ in pairs
                }
            overtaken = _overtaken(send, outcomes, group_of)
            for item in send:
                out = outcomes.get(item.index)
                if out is None:
                    out = EntryOutcome(
                        code="MissingFromResponse",
                        message="AWS's answer named neither a success nor a failure for this entry",
                    )
                if out.success is not None:
                    succeeded.append(out.success)
                    failed.pop(item.index, None)
                    continue
                again = out.retryable and attempt < max_attempts and item.index not in overtaken
                message = out.message
                if item.index in overtaken:
                    message += " (not retried: a later message of its group was accepted)"
                failed[item.index] = BatchFailure(
                    index=item.index,
                    code=out.code,
                    message=message,
                    retryable=out.retryable,
                    attempts=attempt,
                )
                if again:
                    retry.append(item)
                group = group_of(item.entry) if group_of is not None else None
                if group is not None and group not in blocked:
                    blocked[group] = (item.index, again)
        pending = sorted(retry, key=lambda item: item.index)
        if pending and backoff > 0:
            import random  # here, not at import time: random loads hashlib (~4 ms cold start)

            sleep(random.uniform(0, backoff * 2 ** (attempt - 1)))
    succeeded.sort(key=lambda s: s.index)
    return BatchResult(succeeded=succeeded, failed=[failed[i] for i in sorted(failed)])


def _overtaken(
    sent: list[_Sized[_E]],
    outcomes: dict[int, EntryOutcome],
    group_of: Callable[[_E], str | None] | None,
) -> set[int]:
    """Failed entries followed, in the same call, by an accepted entry of their group."""
    if group_of is None:
        return set()
    found: set[int] = set()
    failing: dict[str, list[int]] = {}
    for item in sent:
        group = group_of(item.entry)
        if group is None:
            continue
        out = outcomes.get(item.index)
        if out is None or out.success is None:
            failing.setdefault(group, []).append(item.index)
        else:
            found.update(failing.pop(group, ()))
    return found
