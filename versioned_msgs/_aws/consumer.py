"""The consumer: route each record of a Lambda event to a handler, by type and version.

This module is the reference path, the specification every record is held to:

    event -> records (:mod:`.events`) -> stamp -> plan (:func:`~.._core.routing.route`)
          -> decode / upgrade / tolerate (the registry) -> handler -> :class:`RecordResult`

The outcomes become the Lambda response (:mod:`.report`): ``batchItemFailures`` for SQS and
Kinesis, an exception for async sources (SNS, S3, EventBridge).

SQS, Kinesis and EventBridge events first go through a shortcut (:mod:`.sqs_fast` for
records stamped in their own attributes, :class:`~.fastpath.ShapedFastPath` for SNS
envelopes, EventBridge events and S3 notifications in SQS bodies, Kinesis records and
EventBridge events), which finishes the records it can prove it handles exactly as this path
would and hands every other record back here, unchanged (an S3 object already read is
finished from the read on). Their contract is in :mod:`.fastpath`'s docstring; the test
suite holds the paths equal record by record.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar

import msgspec

from .._core.attributes import ATTR_PARKED_REASON, plain_attributes
from .._core.envelope import looks_embedded, unembed_traced
from .._core.errors import (
    BucketNotAllowedError,
    LimitExceededError,
    MissingStampError,
    PayloadError,
    RecordsFailedError,
    StaleObjectError,
    UnknownTypeError,
    UnsupportedVersionError,
    VersionedMsgsError,
)
from .._core.meta import Meta
from .._core.registry import Registry, check_converters, model_decoder, upgrading_decoder
from .._core.routing import route
from .._core.stamp import MAX_VERSION, Stamp
from .._core.trace import TraceContext, trace_from_metadata
from . import clock
from .events import (
    EVENTBRIDGE,
    EVERY_ORDER_KEY,
    INVALID,
    KINESIS,
    OBJECT,
    POINTER,
    SKIP,
    SQS,
    Record,
    Trigger,
    event_records,
    expand,
    is_fifo_record,
    park_payload,
)
from .fast_shapes import EventBridgeEvent, EventBridgeInSqs, S3InSqs, SnsInSqs, pick_sqs_shape
from .fast_shapes import Kinesis as KinesisShape
from .fastpath import FastPathStats, ShapedFastPath
from .metrics import MetricsSink
from .otel import Invocation, traced_handler
from .report import (
    ASYNC_SOURCES,
    FAILED_OUTCOMES,
    NotProcessed,
    Outcome,
    RecordResult,
    Report,
    lambda_response,
)
from .s3reader import DEFAULT_MAX_BYTES, S3Object, S3Reader, s3_object
from .sqs_fast import SqsFastPath

__all__ = [
    "FAILED_OUTCOMES",
    "Consumer",
    "LambdaHandler",
    "Outcome",
    "Plan",
    "Policy",
    "RecordResult",
    "Report",
    "consume",
]


def _log_exception(message: str, *args: object) -> None:
    """Log the exception being handled; logging is imported here, not at import (~4 ms)."""
    import logging

    logging.getLogger("versioned_msgs").exception(message, *args)


Policy = Literal["retry", "ignore", "reject", "park"]
_POLICIES = ("retry", "ignore", "reject", "park")

_M = TypeVar("_M")
_R = TypeVar("_R")

_MAX_REASON = 1024

#: Milliseconds before Lambda's timeout after which no new record starts.
DEFAULT_DEADLINE_MARGIN_MS = 1000

#: The most S3 objects one message may name (an S3 notification lists one in practice).
DEFAULT_MAX_S3_RECORDS = 10

# ARNs (of buckets, access points, Object Lambda access points) and access point aliases
# are read only when listed exactly: a notification's bucket must look like a bucket name.
_ALIAS_SUFFIXES = ("-s3alias", "--ol-s3")


@functools.lru_cache(maxsize=256)  # (per S3 notification: ~700 instructions, not ~1,800)
def _plain_bucket_name(bucket: str) -> bool:
    return ":" not in bucket and "/" not in bucket and not bucket.endswith(_ALIAS_SUFFIXES)


def _bucket_set(buckets: Iterable[str] | None) -> frozenset[str] | None:
    if buckets is None:
        return None
    if isinstance(buckets, str):
        raise TypeError(
            f"allowed_buckets: expected a list of bucket names, got the string {buckets!r}"
        )
    out = frozenset(buckets)
    bad = [b for b in out if not isinstance(b, str) or not b]
    if bad:
        raise TypeError(f"allowed_buckets: expected non-empty strings, got {bad[0]!r}")
    return out


def _utf8(body: str, mid: str | None) -> bytes:
    """A body as UTF-8; one that is not valid text (a lone surrogate escaped in the event's
    JSON) is a :class:`PayloadError`, retrying cannot help."""
    try:
        return body.encode()
    except UnicodeEncodeError as exc:
        raise PayloadError(
            f"{mid}: expected a body of valid text, found a lone surrogate at character "
            f"{exc.start}",
            message_id=mid,
        ) from None


#: What a plan does with a record: ``decode`` it into ``model`` and call ``handler``;
#: ``ignore`` it; or apply the ``newer`` / ``unknown`` policy.
Action = Literal["decode", "ignore", "newer", "unknown"]
Handler = Callable[[Any, Meta], Any]


def _read_failed(r: Record, exc: Exception) -> RecordResult:
    """The result of a record whose S3 object could not be read (``exc``)."""
    if isinstance(exc, StaleObjectError):
        # A notification's object overwritten or deleted since: its successor has its own
        # event. A large payload's object gone is the message lost: never skip that.
        return RecordResult("skipped" if r.kind == OBJECT else "rejected", r.message_id, None, exc)
    if isinstance(exc, VersionedMsgsError):
        # malformed stamps, buckets not allowed, oversized objects: retrying cannot help
        return RecordResult("rejected", r.message_id, None, exc)
    return RecordResult("failed", r.message_id, None, exc)  # S3 unreachable, access denied...


class Plan:
    """What this consumer does with records of one (type, version, readable_by): made once
    by :meth:`Consumer._plan`, then looked up per record by both paths.

    For ``decode``: ``handler`` and ``model`` (at ``model_version``), the ``outcome`` when
    the handler returns (``handled`` ``routed`` ``upgraded`` ``tolerated``) and ``decoder``,
    a prebuilt function from body to model for the SQS fast path (None when that path must
    leave such records to the reference path). For the policies: ``error``, why.
    """

    __slots__ = ("action", "decoder", "error", "handler", "model", "model_version", "outcome")

    def __init__(
        self,
        action: Action,
        *,
        handler: Handler | None = None,
        model: type[Any] | None = None,
        model_version: int = 0,
        outcome: Outcome = "handled",
        decoder: Callable[[Any], Any] | None = None,
        error: VersionedMsgsError | None = None,
    ) -> None:
        self.action = action
        self.handler = handler
        self.model = model
        self.model_version = model_version
        self.outcome = outcome
        self.decoder = decoder
        self.error = error


def _check_policy(name: str, value: object, *, allow_int: bool = False) -> None:
    if value in _POLICIES:
        return
    if (
        allow_int
        and isinstance(value, int)
        and not isinstance(value, bool)
        and 1 <= value <= MAX_VERSION
    ):
        return
    allowed = ", ".join(repr(p) for p in _POLICIES) + (" or a version number" if allow_int else "")
    raise ValueError(f"{name}: expected one of {allowed}, got {value!r}")


class Consumer:
    """Routes the records of Lambda events to handlers by message type and version.

    Policies (``"retry" "ignore" "reject" "park"``): ``on_newer`` for versions newer than
    every handler and not readable by them, ``on_unknown`` for types (or versions) no handler
    takes, ``on_unversioned`` for records without a stamp (or an int: assume that version
    of ``unversioned_type``, which may be omitted when the registry has one type; otherwise
    the ambiguity is an error here). ``park`` forwards the original message to
    ``park_queue_url``. ``s3`` and ``sqs`` are boto3 clients (made on first use when
    omitted); ``metrics`` receives the counts once per invocation; ``max_bytes`` caps S3
    objects read (notifications and large-payload pointers).

    S3 is read only where allowed: ``allowed_buckets`` lists the buckets (names, or ARNs and
    access points written exactly) that large-payload pointers may name; with none given no
    pointer is followed. When given, S3 notifications naming another bucket are refused too.
    Refused records are ``rejected`` with :class:`BucketNotAllowedError` and no S3 request.
    ``max_s3_records`` caps the S3 objects one message may name (an S3 notification
    listing several): a message naming more is rejected whole.

    Lambda deadlines: when the invocation's ``context`` says fewer than
    ``deadline_margin_ms`` milliseconds remain (``get_remaining_time_in_millis()``, read
    once as the invocation starts; the margin is capped at half of that time), no new
    record starts: the rest are ``deferred``,
    reported as failures (``batchItemFailures``; async sources raise) so the source delivers
    them again instead of Lambda timing out mid-batch. ``None`` turns this off.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        on_newer: Policy = "retry",
        on_unknown: Policy = "reject",
        on_unversioned: Policy | int = "reject",
        s3: Any = None,
        sqs: Any = None,
        park_queue_url: str | None = None,
        metrics: MetricsSink | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        unversioned_type: str | None = None,
        allowed_buckets: Iterable[str] | None = None,
        max_s3_records: int = DEFAULT_MAX_S3_RECORDS,
        deadline_margin_ms: int | None = DEFAULT_DEADLINE_MARGIN_MS,
    ) -> None:
        _check_policy("on_newer", on_newer)
        _check_policy("on_unknown", on_unknown)
        _check_policy("on_unversioned", on_unversioned, allow_int=True)
        policies = (on_newer, on_unknown, on_unversioned)
        if "park" in policies and not park_queue_url:
            raise ValueError("park_queue_url: a 'park' policy needs a park queue URL, got None")
        if metrics is not None and not callable(getattr(metrics, "emit", None)):
            raise TypeError(
                f"metrics: expected a sink with an emit(counts) method, got {metrics!r}"
            )
        check_converters(registry)  # a typed converter naming the wrong model: at cold start
        self.registry = registry
        self.on_newer = on_newer
        self.on_unknown = on_unknown
        self.on_unversioned = on_unversioned
        self.park_queue_url = park_queue_url
        self.metrics = metrics
        self.reader = S3Reader(registry, s3=s3, max_bytes=max_bytes)
        self.allowed_buckets = _bucket_set(allowed_buckets)
        if isinstance(max_s3_records, bool) or not isinstance(max_s3_records, int):
            raise TypeError(f"max_s3_records: expected an integer, got {max_s3_records!r}")
        if max_s3_records < 1:
            raise ValueError(f"max_s3_records: expected at least 1, got {max_s3_records}")
        self.max_s3_records = max_s3_records
        if deadline_margin_ms is not None and (
            isinstance(deadline_margin_ms, bool)
            or not isinstance(deadline_margin_ms, int)
            or deadline_margin_ms < 0
        ):
            raise ValueError(
                f"deadline_margin_ms: expected a number of milliseconds >= 0 or None, "
                f"got {deadline_margin_ms!r}"
            )
        self.deadline_margin_ms = deadline_margin_ms
        self._sqs = sqs
        # type -> {model version: (handler, model)}
        self._handlers: dict[str, dict[int, tuple[Callable[[Any, Meta], Any], type[Any]]]] = {}
        # type -> None (every version) or the ignored versions
        self._ignored: dict[str, frozenset[int] | None] = {}
        # (type, version, readable_by) -> what to do with such records
        self._plans: dict[tuple[str, int, int | None], Plan] = {}
        # the invocation being processed (its size and tracer, for consumer spans)
        self._invocation = Invocation(None)
        # what every fast path finished itself and handed back (the "fast path ran" tests)
        self._fast_stats = FastPathStats()
        self._sqs_fast = SqsFastPath(self._plan, self._reference_sqs_record, self._fast_stats)
        # the other fast paths: one loop, one shape per source (fast_shapes.py), by the name
        # _fast_shape gives (the SQS shapes' names must differ from the triggers')
        self._shaped: dict[str, ShapedFastPath] = {
            name: ShapedFastPath(shape, self._plan, reference, self._fast_stats)
            for name, shape, reference in (
                ("sns-in-sqs", SnsInSqs(), self._reference_sqs_record),
                ("eventbridge-in-sqs", EventBridgeInSqs(), self._reference_sqs_record),
                (
                    "s3-in-sqs",
                    S3InSqs(self._read_notified, self._finish_read),
                    self._reference_sqs_record,
                ),
                (KINESIS, KinesisShape(), self._reference_kinesis_record),
                (EVENTBRIDGE, EventBridgeEvent(), self._reference_eventbridge_event),
            )
        }
        self._assumed: Stamp | None = None
        if isinstance(on_unversioned, int):
            self._assumed = self._assume(on_unversioned, unversioned_type)
        elif unversioned_type is not None:
            raise ValueError(
                f"unversioned_type: only used with an integer on_unversioned, which is "
                f"{on_unversioned!r}"
            )

    # ---- configuration ------------------------------------------------------------------

    def _assume(self, version: int, type: str | None) -> Stamp:
        """The stamp assumed for unversioned payloads; raises when it cannot be told."""
        types = self.registry.types()
        if type is None:
            if len(types) != 1:
                shown = ", ".join(types) if types else "no type"
                raise ValueError(
                    f"on_unversioned={version}: ambiguous, the registry knows {shown}; "
                    "pass unversioned_type= to say which type an unstamped payload is"
                )
            type = types[0]
        if type not in types:
            raise ValueError(
                f"unversioned_type: {type!r} is not registered (known: {', '.join(types)})"
            )
        known = self.registry.versions(type)
        if version > self.registry.current(type):
            raise ValueError(
                f"on_unversioned: {type} v{version} is newer than the registry knows "
                f"(models: v{', v'.join(map(str, known))})"
            )
        return Stamp(type=type, version=version)

    def handler(
        self, model: type[_M]
    ) -> Callable[[Callable[[_M, Meta], _R]], Callable[[_M, Meta], _R]]:
        """Decorator: send records of ``model``'s type to the function as ``fn(msg, meta)``.

        With the current model, older versions are upgraded first and newer readable ones
        tolerated; with an older model, exactly that version is routed here as-is.
        """
        type_name, version = self.registry.lookup(model)

        def register(fn: Callable[[_M, Meta], _R]) -> Callable[[_M, Meta], _R]:
            if not callable(fn):
                raise TypeError(f"handler: expected a function, got {fn!r}")
            table = self._handlers.setdefault(type_name, {})
            if version in table:
                raise ValueError(
                    f"{type_name} v{version} already has a handler: {table[version][0]!r}"
                )
            table[version] = (fn, model)
            self._forget_plans()
            return fn

        return register

    def ignore(self, type: str, versions: list[int] | None = None) -> None:
        """Acknowledge (and count) records of ``type`` at ``versions`` (all when None)."""
        if versions is None:
            self._ignored[type] = None
        else:
            vs = list(versions)
            for v in vs:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"ignore: expected positive integer versions, got {v!r}")
            prev = self._ignored.get(type, frozenset())
            if prev is not None or type not in self._ignored:
                self._ignored[type] = frozenset(vs) | (prev or frozenset())
        self._forget_plans()

    def _forget_plans(self) -> None:
        """Handlers or ignores changed: every plan (and the fast path's table) is stale."""
        self._plans.clear()
        self._sqs_fast.clear()
        for path in self._shaped.values():
            path.clear()

    # ---- plans --------------------------------------------------------------------------

    def _plan(self, type: str, version: int, readable_by: int | None) -> Plan:
        """What to do with records stamped ``type`` v``version`` declaring ``readable_by``."""
        key = (type, version, readable_by)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(type, version, readable_by)
        return plan

    def _current_invocation(self) -> Invocation:
        return self._invocation

    def _traced(self, fn: Handler) -> Handler:
        """``fn`` in a CONSUMER span when OpenTelemetry is in use (see ``otel.py``): done
        here, once per plan, so every path that calls a plan's handler traces it."""
        return traced_handler(fn, self._current_invocation)

    def _make_plan(self, type: str, version: int, readable_by: int | None) -> Plan:
        ignored = self._ignored.get(type, frozenset())
        if ignored is None or version in ignored:
            return Plan("ignore")
        registry = self.registry
        if type not in registry.types():
            return Plan("unknown", error=UnknownTypeError(type, registry.types()))
        current = registry.current(type)
        handlers = self._handlers.get(type)
        if not handlers:
            return Plan(
                "unknown", error=self._unsupported(type, version, "no handler in this consumer")
            )
        exact = handlers.get(version)
        if exact is not None:  # a handler for exactly this version: as-is
            fn, model = exact
            return Plan(
                "decode",
                handler=self._traced(fn),
                model=model,
                model_version=version,
                outcome="handled" if version == current else "routed",
                decoder=model_decoder(registry, type, version),
            )
        top = max(handlers)
        if version > top:
            fn, model = handlers[top]
            if route(version, readable_by, top) == "tolerate":
                return Plan(
                    "decode",
                    handler=self._traced(fn),
                    model=model,
                    model_version=top,
                    outcome="tolerated",
                )
            handled = (
                f"handlers take up to v{top}"
                if top == current
                else f"the newest handler takes v{top}"
            )
            why = (
                "declares no readable_by"
                if readable_by is None
                else f"is readable only by v{readable_by}"
            )
            return Plan(
                "newer",
                error=UnsupportedVersionError(
                    f"{type} v{version} is newer than this reader ({handled}) and {why} and newer",
                    type=type,
                    version=version,
                    current=top,
                ),
            )
        cur = handlers.get(current)
        if cur is not None:  # older than the current handler's model: upgrade
            try:
                decoder: Callable[[Any], Any] | None = upgrading_decoder(registry, type, version)
            except VersionedMsgsError:  # a missing upgrader: the reference path names it
                decoder = None
            return Plan(
                "decode",
                handler=self._traced(cur[0]),
                model=cur[1],
                model_version=current,
                outcome="upgraded",
                decoder=decoder,
            )
        takes = ", ".join(f"v{v}" for v in sorted(handlers))
        return Plan(
            "unknown",
            error=self._unsupported(
                type, version, f"no handler takes this version (handlers take {takes})"
            ),
        )

    def _unsupported(self, type: str, version: int, why: str) -> UnsupportedVersionError:
        return UnsupportedVersionError(
            f"{type} v{version}: {why}",
            type=type,
            version=version,
            current=self.registry.current(type),
        )

    # ---- processing ---------------------------------------------------------------------

    def process(self, event: Any, context: Any = None) -> Report:
        """Process every record of a Lambda event; never raises for a record's failure.

        ``context`` is Lambda's context object: its remaining time sets the deadline after
        which no record starts (``deadline_margin_ms``). The counts go to ``metrics`` once,
        for the whole invocation. Raises :class:`EventShapeError` for an event of no known
        shape.
        """
        return self._process(event, context=context, fast=True)

    def _process(self, event: Any, *, context: Any = None, fast: bool) -> Report:
        """:meth:`process`; with ``fast=False`` every record takes the reference path (the
        differential tests compare the two)."""
        trigger, raw = event_records(event)
        deadline = self._deadline(context)
        self._invocation = Invocation(len(raw))
        runs: list[tuple[int, Outcome]] = []
        shape = self._fast_shape(trigger, raw) if fast and raw else None
        if shape == SQS:
            items, runs, results = self._sqs_fast.process(raw, deadline)
        elif shape is not None:
            fifo = trigger == SQS and is_fifo_record(raw[0])
            items, runs, results = self._shaped[shape].process(raw, fifo, deadline)
        else:
            items = results = []
            stopped: set[str] = set()
            # a FIFO queue's event or not, told by its first record (one event, one queue)
            fifo = trigger == SQS and bool(raw) and is_fifo_record(raw[0])
            for rec in raw:
                results += self._reference_record(trigger, rec, stopped, fifo, deadline)
        report = Report._compact(items, runs, lambda_response(trigger, results), trigger)
        if self.metrics is not None:
            try:
                self.metrics.emit(report.counts())
            except Exception:  # metrics must never make messages fail
                _log_exception("versioned_msgs: the metrics sink raised; counts lost")
        return report

    @staticmethod
    def _fast_shape(trigger: Trigger, raw: list[Any]) -> str | None:
        """Which fast path takes the event (None: the reference path alone)."""
        if trigger == SQS:
            return pick_sqs_shape(raw[0]) or SQS
        if trigger in (KINESIS, EVENTBRIDGE):
            return trigger
        return None

    def handle_event(self, event: Any, context: Any = None) -> Any:
        """Process an event and return what Lambda expects.

        SQS and Kinesis: ``{"batchItemFailures": [...]}``. SNS, S3 and EventBridge (async
        invocations): None, or :class:`RecordsFailedError` after every record was processed
        when any was retried, rejected or failed.
        """
        report = self.process(event, context)
        if report.source in ASYNC_SOURCES:
            if report.failures:
                raise RecordsFailedError(report)
            return None
        return report.response

    __call__ = handle_event

    def process_record(self, record: Mapping[str, Any], context: Any = None) -> list[RecordResult]:
        """Process one raw Lambda record (of an SQS, SNS, S3 or Kinesis event, or an
        EventBridge event) and return its results: usually one, several when an SQS record
        carries an S3 notification listing several objects. Never raises for a record's
        failure.

        ``record`` may also be an object with a ``raw_event`` attribute, such as the records
        of Powertools' data classes. Unlike :meth:`process`, nothing is sent to ``metrics``:
        :meth:`process` and :meth:`handle_event` emit once per invocation, while a caller
        handing records over one by one (a batch utility) owns the invocation. Raises
        :class:`EventShapeError` for a record of no known shape.
        """
        return self._record_results(record)[1]

    def record_handler(self, record: Mapping[str, Any], context: Any = None) -> None:
        """A record handler for Powertools' ``BatchProcessor``: :meth:`process_record`, then
        :class:`RecordsFailedError` (its ``report`` holds the record's results) when any
        result was retried, rejected or failed, which marks the record failed.
        """
        source, results = self._record_results(record)
        if any(r.outcome in FAILED_OUTCOMES for r in results):
            raise RecordsFailedError(Report(results, None, source))

    def _record_results(self, record: Any) -> tuple[str, list[RecordResult]]:
        """The trigger and results of one record, through the general path."""
        raw = getattr(record, "raw_event", record)
        event: Any = {"Records": [raw]}
        if isinstance(raw, Mapping) and not (
            "eventSource" in raw or "EventSource" in raw or "Records" in raw
        ):
            event = raw  # an EventBridge event is its own (only) record
        trigger, recs = event_records(event)
        self._invocation = Invocation(None)  # one record of a batch not seen whole
        stopped: set[str] = set()
        return trigger, [
            self._process_in_order(r, stopped)
            for rec in recs
            for r in self._expand(trigger, rec, None)
        ]

    # ---- the reference path -------------------------------------------------------------

    def _deadline(self, context: Any) -> float:
        """The ``clock.monotonic()`` time after which no record starts (inf: none)."""
        margin = self.deadline_margin_ms
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if margin is None or not callable(remaining):
            return math.inf
        try:
            left = float(remaining())
        except Exception:  # a context of another kind: no deadline rather than no records
            return math.inf
        # Capped at half the time there was: a short timeout (a worker's 1 s visibility, a
        # 2 s Lambda) still leaves time for records.
        return clock.monotonic() + (left - min(margin, left / 2)) / 1000.0

    def _reference_record(
        self, trigger: Trigger, rec: Any, stopped: set[str], fifo: bool | None, deadline: float
    ) -> list[RecordResult]:
        """One raw record through the reference path: its records in order, or, once
        ``deadline`` has passed, ``deferred`` without being started."""
        recs = self._expand(trigger, rec, fifo)
        if clock.monotonic() < deadline:
            return [self._process_in_order(r, stopped) for r in recs]
        return [
            RecordResult(
                "deferred",
                r.message_id,
                None,
                NotProcessed(
                    f"{r.message_id}: not started, the invocation is within "
                    f"{self.deadline_margin_ms} ms of Lambda's timeout (deadline_margin_ms)",
                    message_id=r.message_id,
                ),
            )
            for r in recs
        ]

    def _reference_sqs_record(
        self, rec: Any, stopped: set[str], fifo: bool, deadline: float
    ) -> list[RecordResult]:
        """One raw SQS record of a FIFO queue's event or not through the reference path (the
        fast path's hand-back)."""
        return self._reference_record(SQS, rec, stopped, fifo, deadline)

    def _reference_kinesis_record(
        self, rec: Any, stopped: set[str], fifo: bool, deadline: float
    ) -> list[RecordResult]:
        """One raw Kinesis record through the reference path (the fast path's hand-back)."""
        return self._reference_record(KINESIS, rec, stopped, None, deadline)

    def _reference_eventbridge_event(
        self, event: Any, stopped: set[str], fifo: bool, deadline: float
    ) -> list[RecordResult]:
        """An EventBridge event through the reference path (the fast path's hand-back)."""
        return self._reference_record(EVENTBRIDGE, event, stopped, None, deadline)

    def _expand(self, trigger: Trigger, rec: Any, fifo: bool | None) -> list[Record]:
        """:func:`~.events.expand`, with the fan-out cap: a message naming more than
        ``max_s3_records`` S3 objects becomes one invalid record (no S3 request)."""
        recs = expand(trigger, rec, fifo=fifo)
        if len(recs) <= self.max_s3_records:
            return recs
        first = recs[0]
        err = LimitExceededError(
            f"{first.message_id}: expected at most {self.max_s3_records} S3 objects in one "
            f"message (max_s3_records), got {len(recs)}",
            limit="max_s3_records",
            allowed=self.max_s3_records,
            actual=len(recs),
        )
        err.message_id = first.message_id
        return [
            msgspec.structs.replace(
                first, kind=INVALID, source=first.trigger, bucket=None, key=None, error=err
            )
        ]

    def _process_in_order(self, r: Record, stopped: set[str]) -> RecordResult:
        """:meth:`_process_one`, keeping FIFO group / Kinesis shard order: once a record of
        ``r.order_key`` failed, the later ones are retried unprocessed. Never raises an
        Exception (a bug of ours fails the record instead of losing it)."""
        key = r.order_key
        if key is not None and (key in stopped or EVERY_ORDER_KEY in stopped):
            return RecordResult(
                "retried",
                r.message_id,
                None,
                NotProcessed(
                    f"{r.message_id}: not processed, an earlier record of "
                    + (f"shard {key!r}" if r.trigger == "kinesis" else f"message group {key!r}")
                    + " failed and order is kept",
                    message_id=r.message_id,
                ),
            )
        try:
            result = self._process_one(r)
        except Exception as exc:  # a bug of ours must not lose the record
            _log_exception("versioned_msgs: unexpected error processing %s", r.message_id)
            result = RecordResult("failed", r.message_id, None, exc)
        if key is not None and result.outcome in FAILED_OUTCOMES:
            stopped.add(key)
        return result

    def _meta_from(
        self,
        r: Record,
        stamp: Stamp,
        base: Meta | None = None,
        trace: TraceContext | None = None,
    ) -> Meta:
        fields = {
            "source": r.source,
            "message_id": r.message_id,
            "attributes": plain_attributes(r.attributes),
            "group_id": r.group_id,
            "bucket": r.bucket,
            "key": r.key,
            "record": r.raw,
            "carried_trace": trace,
        }
        if base is not None:
            return msgspec.structs.replace(base, **fields)
        return Meta(
            type=stamp.type,
            version=stamp.version,
            readable_by=stamp.readable_by,
            producer=stamp.producer,
            content_type=stamp.content_type,
            **fields,
        )

    def _process_one(self, r: Record) -> RecordResult:
        """Read the record's stamp and body (S3 objects fetched, envelopes opened), then
        :meth:`_route_and_handle` it, or apply ``on_unversioned``."""
        kind = r.kind
        mid = r.message_id
        if kind == INVALID:
            return RecordResult("rejected", mid, None, r.error)
        if kind == SKIP:
            return RecordResult("skipped", mid, None, None)
        stamp: Stamp | None = None
        try:
            if r.attributes:
                stamp = Stamp.from_message_attributes(r.attributes)
        except VersionedMsgsError as exc:  # a malformed stamp: retrying cannot help
            return RecordResult("rejected", mid, None, exc)
        except Exception as exc:
            return RecordResult("failed", mid, None, exc)
        obj: S3Object | None = None
        if kind in (OBJECT, POINTER):
            read = self._read_object(r)
            if isinstance(read, RecordResult):
                return read
            obj = read
        return self._process_body(r, stamp, obj)

    def _read_object(self, r: Record) -> S3Object | RecordResult:
        """The S3 object an OBJECT or POINTER record names, or the result that ends the
        record when it cannot be read (bucket not allowed, gone, too large, S3 failing, a
        malformed stamp in its metadata)."""
        bucket, key = r.bucket or "", r.key or ""
        try:
            if r.kind == OBJECT:
                read = self._read_notified(r.message_id, bucket, key, r.etag, r.version_id, r.size)
            else:
                self._check_bucket(r.kind, bucket, r.message_id)
                read = self.reader._read(bucket, key)
            return s3_object(bucket, key, *read)
        except Exception as exc:
            return _read_failed(r, exc)

    def _read_notified(
        self,
        mid: str | None,
        bucket: str,
        key: str,
        etag: str | None,
        version_id: str | None,
        size: int | None,
    ) -> tuple[bytes, dict[str, Any]]:
        """The bucket check and requests of :meth:`_read_object` for an S3 notification's
        object (the record's fields as arguments): its body and the GetObject response, the
        stamp not read yet. Raises what :meth:`_read_object` turns into a result."""
        # (the allow-list check stays in one place, _check_bucket, though calling it costs a
        # few hundred instructions a notification: a security check must not be copied)
        self._check_bucket(OBJECT, bucket, mid)
        return self.reader._read(bucket, key, etag, version_id, size)

    def _finish_read(
        self, r: Record, read: tuple[bytes, dict[str, Any]] | Exception
    ) -> RecordResult:
        """The rest of :meth:`_process_one` for an S3 notification whose object a fast path
        read with :meth:`_read_notified` (never read twice), or failed to read (``read`` the
        exception), guarded as :meth:`_process_in_order` guards a record."""
        if isinstance(read, Exception):
            return _read_failed(r, read)
        try:
            obj = s3_object(r.bucket or "", r.key or "", *read)
        except Exception as exc:
            return _read_failed(r, exc)
        try:
            return self._process_body(r, None, obj)
        except Exception as exc:  # a bug of ours must not lose the record
            _log_exception("versioned_msgs: unexpected error processing %s", r.message_id)
            return RecordResult("failed", r.message_id, None, exc)

    def _process_body(self, r: Record, stamp: Stamp | None, obj: S3Object | None) -> RecordResult:
        """The rest of :meth:`_process_one` once the record's stamp attributes are read and
        its S3 object (``obj``, when it names one) fetched: the body's envelope opened, then
        :meth:`_route_and_handle` or ``on_unversioned``."""
        mid = r.message_id
        body: bytes | str | None = r.body
        # a trace context travelling with the payload (S3 metadata, envelope header)
        trace: TraceContext | None = None
        try:
            if obj is not None:
                body = obj.body
                if stamp is None:
                    stamp = obj.stamp
                trace = trace_from_metadata(obj.metadata)
            raw_body = _utf8(body, mid) if isinstance(body, str) else (body or b"")
            if looks_embedded(raw_body):
                inner, data, inner_trace = unembed_traced(raw_body)
                raw_body = data
                if stamp is None:
                    stamp = inner
                if trace is None:
                    trace = inner_trace
        except VersionedMsgsError as exc:  # a malformed envelope: retrying cannot help
            return RecordResult("rejected", mid, None, exc)
        except Exception as exc:
            return RecordResult("failed", mid, None, exc)
        if stamp is None:
            policy = self.on_unversioned
            if self._assumed is not None:
                stamp = self._assumed
            else:
                err = MissingStampError(
                    f"{mid}: expected a stamp (vmsg-* attributes, S3 metadata or an embedded "
                    "envelope), found none: the payload is unversioned",
                    field="type",
                    message_id=mid,
                )
                return self._policy(policy, r, None, err, "unversioned")
        return self._route_and_handle(r, stamp, raw_body, trace)

    def _check_bucket(self, kind: str, bucket: str, mid: str | None) -> None:
        """Raise :class:`BucketNotAllowedError` unless this consumer may read ``bucket``."""
        allowed = self.allowed_buckets
        if allowed is not None and bucket in allowed:
            return
        if allowed is None and kind == OBJECT and _plain_bucket_name(bucket):
            return  # an S3 notification, and no allow-list: the trigger is the user's choice
        what = "a large-payload pointer" if kind == POINTER else "an S3 notification"
        if allowed is None:
            why = (
                "no allowed_buckets were given, so no pointer is followed"
                if kind == POINTER
                else "ARNs and access points are read only when listed in allowed_buckets"
            )
        else:
            why = "it is not in allowed_buckets"
        raise BucketNotAllowedError(
            f"{mid}: {what} names bucket {bucket[:255]!r}, which this consumer does not read: "
            f"{why}",
            bucket=bucket,
            message_id=mid,
        )

    def _route_and_handle(
        self, r: Record, stamp: Stamp, body: bytes, trace: TraceContext | None = None
    ) -> RecordResult:
        """Follow the record's plan: ignore it, apply a policy, or decode it and call the
        handler. ``trace`` is the trace context carried with the payload, if any."""
        mid = r.message_id
        plan = self._plan(stamp.type, stamp.version, stamp.readable_by)
        action = plan.action
        if action == "ignore":
            return RecordResult("ignored", mid, self._meta_from(r, stamp, trace=trace), None)
        if action != "decode":
            err = plan.error
            assert err is not None
            err = _for_record(err, mid)
            policy = self.on_newer if action == "newer" else self.on_unknown
            return self._policy(policy, r, self._meta_from(r, stamp, trace=trace), err, action)
        try:
            msg, meta0 = self.registry.decode_stamped(body, stamp, plan.model)
        except UnsupportedVersionError as exc:
            meta = self._meta_from(r, stamp, trace=trace)
            if stamp.version > self.registry.current(stamp.type):
                return self._policy(self.on_newer, r, meta, exc, "newer")
            return self._policy(self.on_unknown, r, meta, exc, "unknown")
        except VersionedMsgsError as exc:
            return RecordResult("rejected", mid, self._meta_from(r, stamp, trace=trace), exc)
        meta = self._meta_from(r, stamp, meta0, trace)
        try:
            plan.handler(msg, meta)  # type: ignore[misc]
        except Exception as exc:
            return RecordResult("failed", mid, meta, exc)
        return RecordResult(plan.outcome, mid, meta, None)

    # ---- policies -----------------------------------------------------------------------

    def _policy(
        self,
        policy: str | int,
        r: Record,
        meta: Meta | None,
        err: VersionedMsgsError,
        why: str,
    ) -> RecordResult:
        mid = r.message_id
        if policy == "ignore":
            return RecordResult("ignored", mid, meta, err)
        if policy == "retry":
            return RecordResult("retried", mid, meta, err)
        if policy == "park":
            try:
                self._park(r, f"{why}: {err}")
            except Exception as exc:
                return RecordResult("failed", mid, meta, exc)
            return RecordResult("parked", mid, meta, err)
        return RecordResult("rejected", mid, meta, err)

    @property
    def sqs(self) -> Any:
        """The boto3 SQS client used for parking (made on first use)."""
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        return self._sqs

    def _park(self, r: Record, reason: str) -> None:
        url = self.park_queue_url
        assert url is not None
        body, attrs, dropped = park_payload(r)
        if dropped:
            reason += f" (attributes not carried: {', '.join(sorted(dropped))})"
        # SQS allows 10 attributes: the original ones come first, unchanged.
        if len(attrs) < 10:
            attrs[ATTR_PARKED_REASON] = {
                "DataType": "String",
                "StringValue": reason[:_MAX_REASON],
            }
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if attrs:
            kwargs["MessageAttributes"] = attrs
        if url.endswith(".fifo"):
            kwargs["MessageGroupId"] = r.group_id or "vmsg-parked"
            ident = f"{r.trigger}:{r.message_id or ''}:{body}"
            import hashlib  # here: hashlib costs ~2.5 ms at import (cold starts)

            kwargs["MessageDeduplicationId"] = hashlib.sha256(ident.encode()).hexdigest()
        self.sqs.send_message(**kwargs)


def _for_record(err: VersionedMsgsError, message_id: str | None) -> VersionedMsgsError:
    """A copy of a plan's error naming the record (plans are shared by every record)."""
    import copy

    out = copy.copy(err)
    out.message_id = message_id
    return out


class LambdaHandler(Generic[_M]):
    """A Lambda handler made by :func:`consume`: call it with ``(event, context)``.

    ``consumer`` is the :class:`Consumer` behind it; ``__wrapped__`` the decorated function.
    """

    def __init__(self, consumer: Consumer, fn: Callable[[_M, Meta], Any]) -> None:
        self.consumer = consumer
        self.__wrapped__ = fn
        functools.update_wrapper(self, fn)

    def __call__(self, event: Any, context: Any = None) -> Any:
        return self.consumer.handle_event(event, context)


def consume(
    registry: Registry,
    model: type[_M],
    *,
    on_newer: Policy = "retry",
    on_unknown: Policy = "reject",
    on_unversioned: Policy | int = "reject",
    s3: Any = None,
    sqs: Any = None,
    park_queue_url: str | None = None,
    metrics: MetricsSink | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allowed_buckets: Iterable[str] | None = None,
    max_s3_records: int = DEFAULT_MAX_S3_RECORDS,
    deadline_margin_ms: int | None = DEFAULT_DEADLINE_MARGIN_MS,
) -> Callable[[Callable[[_M, Meta], Any]], LambdaHandler[_M]]:
    """Decorator: turn ``fn(msg: Model, meta)`` into a Lambda handler ``(event, context)``.

    Shorthand for a :class:`Consumer` with one handler; the options are the consumer's (an
    integer ``on_unversioned`` is a version of ``Model``'s type).
    """
    consumer = Consumer(
        registry,
        on_newer=on_newer,
        on_unknown=on_unknown,
        on_unversioned=on_unversioned,
        s3=s3,
        sqs=sqs,
        park_queue_url=park_queue_url,
        metrics=metrics,
        max_bytes=max_bytes,
        allowed_buckets=allowed_buckets,
        max_s3_records=max_s3_records,
        deadline_margin_ms=deadline_margin_ms,
        unversioned_type=registry.lookup(model)[0] if isinstance(on_unversioned, int) else None,
    )

    def decorate(fn: Callable[[_M, Meta], Any]) -> LambdaHandler[_M]:
        consumer.handler(model)(fn)
        return LambdaHandler(consumer, fn)

    return decorate
