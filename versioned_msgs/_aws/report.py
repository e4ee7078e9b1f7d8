"""What a consumer reports: one :class:`RecordResult` per record, and the :class:`Report`
of an invocation with the response Lambda expects.

The outcomes and the Lambda response are defined here once, for every path that makes
results (the reference path and the SQS fast path).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .._core.errors import UnknownTypeError, VersionedMsgsError
from .._core.meta import Meta
from .metrics import NO_TYPE, UNKNOWN_TYPE

__all__ = [
    "ASYNC_SOURCES",
    "FAILED_OUTCOMES",
    "NotProcessed",
    "Outcome",
    "RecordResult",
    "Report",
    "lambda_response",
]

Outcome = Literal[
    "handled",
    "upgraded",
    "routed",
    "tolerated",
    "ignored",
    "skipped",
    "retried",
    "rejected",
    "parked",
    "failed",
    "deferred",
]

#: Outcomes reported back to the source (batchItemFailures, or an exception).
FAILED_OUTCOMES = frozenset({"retried", "rejected", "failed", "deferred"})


# Not gc=False: ``error`` holds an exception whose traceback references the frames (and so
# the results list) that hold this result; an untracked object in that cycle would leak it.
class RecordResult(msgspec.Struct, frozen=True):
    """What happened to one record: ``outcome``, its ``message_id`` (SQS messageId, Kinesis
    sequenceNumber, SNS MessageId, EventBridge id, or ``s3://bucket/key``), the ``meta``
    (None when no stamp could be read) and the ``error`` behind a non-success outcome."""

    outcome: str
    message_id: str | None
    meta: Meta | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """False for the outcomes reported back as failures (retried, rejected, failed)."""
        return self.outcome not in FAILED_OUTCOMES


class Report:
    """The results of one invocation: one :class:`RecordResult` per record in event order,
    the ``response`` Lambda expects (``{"batchItemFailures": [...]}`` for SQS and Kinesis,
    None for async sources) and the ``source`` that invoked the function. Immutable.

    ``records`` is built on first access: a Lambda handler that only returns ``response``
    never pays for one result object per record.
    """

    # Private slots behind read-only properties: a report is built with plain slot stores
    # (about 0.2 µs; five ``object.__setattr__`` calls past a refusing ``__setattr__`` cost
    # 1.3 µs, once per invocation), and ``response`` and ``source`` cannot be set.
    __slots__ = ("_items", "_records", "_response", "_runs", "_source")

    _items: list[Any] | None
    _records: list[RecordResult] | None
    _runs: list[tuple[int, Outcome]] | None
    _response: dict[str, Any] | None
    _source: str

    def __init__(
        self, records: list[RecordResult], response: dict[str, Any] | None, source: str
    ) -> None:
        self._records = records
        self._items = None
        self._runs = None
        self._response = response
        self._source = source

    @classmethod
    def _compact(
        cls,
        items: list[Any],
        runs: list[tuple[int, Outcome]],
        response: dict[str, Any] | None,
        source: str,
    ) -> Report:
        """A report whose ``items`` are RecordResults or, for records the fast path handled,
        their Meta alone; ``runs`` gives those records' outcome: ``(index, outcome)`` holds
        from ``items[index]`` on until the next run."""
        self = cls.__new__(cls)
        if runs:
            self._records = None
            self._items = items
            self._runs = runs
        else:
            self._records = items
            self._items = None
            self._runs = None
        self._response = response
        self._source = source
        return self

    @property
    def response(self) -> dict[str, Any] | None:
        """What Lambda expects back: ``{"batchItemFailures": [...]}`` for SQS and Kinesis,
        None for the asynchronous sources."""
        return self._response

    @property
    def source(self) -> str:
        """The source that invoked the function (``"sqs"``, ``"kinesis"``...)."""
        return self._source

    @property
    def records(self) -> list[RecordResult]:
        """One :class:`RecordResult` per record, in event order."""
        records = self._records
        if records is None:
            records = _materialise(self._items, self._runs)
            self._records = records
            self._items = None
        return records

    @property
    def failures(self) -> list[RecordResult]:
        """The records reported back as failures, in order."""
        return [r for r in self.records if r.outcome in FAILED_OUTCOMES]

    def counts(self) -> dict[tuple[str, int, str], int]:
        """Counts per (type, version, outcome), for metrics.

        Unstamped records count as ``("(none)", 0)``. Type and version are the sender's
        choice, so a record counts under its own only once the consumer recognised the
        type; records of a type the registry does not know count as ``("(unknown)", 0)``,
        and so does a record whose parking failed (its result cannot tell whether the type
        was known). Versions of registered types are counted as written.
        """
        out: dict[tuple[str, int, str], int] = {}
        for r in self.records:
            m = r.meta
            if m is None:
                k = (NO_TYPE, 0, r.outcome)
            elif _type_unrecognised(r, m):
                k = (UNKNOWN_TYPE, 0, r.outcome)
            else:
                k = (m.type, m.version, r.outcome)
            out[k] = out.get(k, 0) + 1
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Report):
            return NotImplemented
        return (self.records, self.response, self.source) == (
            other.records,
            other.response,
            other.source,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Report(records={self.records!r}, response={self.response!r}, source={self.source!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (Report, (self.records, self.response, self.source))


def _type_unrecognised(r: RecordResult, m: Meta) -> bool:
    """True when the record shows its type unknown to the registry, or cannot show it known:
    a failure with no model decoded is the park queue's, reached only by a policy (a
    handler's failure follows a decode into a model version >= 1)."""
    return isinstance(r.error, UnknownTypeError) or (r.outcome == "failed" and not m.model_version)


def _materialise(items: Any, runs: Any) -> list[RecordResult]:
    """The RecordResults of a compact report (see :meth:`Report._compact`)."""
    out: list[RecordResult] = []
    append = out.append
    ends = [start for start, _ in runs[1:]] + [len(items)]
    if runs[0][0]:  # general-path results before the first fast-path record
        out.extend(items[: runs[0][0]])
    for (start, outcome), end in zip(runs, ends, strict=True):
        for i in range(start, end):
            item = items[i]
            if type(item) is Meta:
                append(RecordResult(outcome, item.message_id, item, None))
            else:
                append(item)
    return out


class NotProcessed(VersionedMsgsError):
    """A FIFO / Kinesis record left unprocessed after an earlier failure in its group."""


#: Sources that invoke Lambda asynchronously: failures are raised, not listed.
ASYNC_SOURCES = frozenset({"sns", "s3", "eventbridge"})


def lambda_response(trigger: str, results: list[RecordResult]) -> dict[str, Any] | None:
    """The Lambda response from the results that may have failed, in event order: None for
    async sources, else ``batchItemFailures``.

    A failed record without an identifier (a malformed record with no ``messageId`` or
    ``sequenceNumber``) is listed with an empty ``itemIdentifier``, which Lambda treats as
    the whole batch failing: it cannot be retried alone, and it must not be lost.
    """
    if trigger in ASYNC_SOURCES:
        return None
    items: list[dict[str, str]] = []
    seen: set[str] = set()
    for r in results:
        if r.outcome in FAILED_OUTCOMES:
            mid = r.message_id if r.message_id is not None else ""
            if mid not in seen:
                seen.add(mid)
                items.append({"itemIdentifier": mid})
    return {"batchItemFailures": items}
