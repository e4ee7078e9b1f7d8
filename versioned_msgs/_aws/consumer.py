"""The consumer: route each record of a Lambda event to a handler, by type and version.

Flow per record: event -> :class:`~._events.Record` -> stamp -> route (ignore, handler,
newer, unknown) -> decode (upgrade / tolerate) -> handler -> :class:`RecordResult`. The
outcomes become the Lambda response: ``batchItemFailures`` for SQS and Kinesis, an exception
for async sources (SNS, S3, EventBridge).

Plain SQS records stamped for a handler take a short path: a standard queue's batch whose
records carry equal attributes is checked as a whole before any handler runs (then per
record: decode, Meta, handler), other batches record by record against a cached stamp; no
intermediate record object, and the report's RecordResults are made when first read.
Everything else goes through the general path, which gives the same results.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

import msgspec

from .._core.attributes import (
    ATTR_CONTENT_TYPE,
    ATTR_PARKED_REASON,
    ATTR_PRODUCER,
    ATTR_READABLE_BY,
    ATTR_TYPE,
    ATTR_VERSION,
    PREFIX,
    attributes_digest,
    plain_attributes,
)
from .._core.envelope import looks_embedded, unembed
from .._core.errors import (
    MissingStampError,
    RecordsFailedError,
    StaleObjectError,
    UnknownTypeError,
    UnsupportedVersionError,
    VersionedMsgsError,
)
from .._core.meta import Meta
from .._core.registry import Registry
from .._core.stamp import JSON, MAX_VERSION, Stamp
from .events import (
    INVALID,
    OBJECT,
    POINTER,
    SKIP,
    SQS,
    Record,
    event_records,
    expand,
    is_fifo_record,
    park_payload,
)
from .metrics import NO_TYPE, MetricsSink
from .s3reader import DEFAULT_MAX_BYTES, S3Reader

__all__ = [
    "FAILED_OUTCOMES",
    "Consumer",
    "LambdaHandler",
    "Outcome",
    "Policy",
    "RecordResult",
    "Report",
    "consume",
]


def _log_exception(message: str, *args: object) -> None:
    """Log the exception being handled; logging is imported here, not at import (~4 ms)."""
    import logging

    logging.getLogger("versioned_msgs").exception(message, *args)


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
]
Policy = Literal["retry", "ignore", "reject", "park"]
_POLICIES = ("retry", "ignore", "reject", "park")

#: Outcomes reported back to the source (batchItemFailures, or an exception).
FAILED_OUTCOMES = frozenset({"retried", "rejected", "failed"})

_M = TypeVar("_M")
_R = TypeVar("_R")

_ASYNC = frozenset({"sns", "s3", "eventbridge"})
_MAX_REASON = 1024


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

    __slots__ = ("_items", "_records", "_runs", "response", "source")

    _items: list[Any] | None
    _records: list[RecordResult] | None
    _runs: list[tuple[int, str]] | None
    response: dict[str, Any] | None
    source: str

    def __init__(
        self, records: list[RecordResult], response: dict[str, Any] | None, source: str
    ) -> None:
        self._fill(records, None, None, response, source)

    def _fill(
        self,
        records: list[RecordResult] | None,
        items: list[Any] | None,
        runs: list[tuple[int, str]] | None,
        response: dict[str, Any] | None,
        source: str,
    ) -> None:
        _set = object.__setattr__
        _set(self, "_records", records)
        _set(self, "_items", items)
        _set(self, "_runs", runs)
        _set(self, "response", response)
        _set(self, "source", source)

    @classmethod
    def _compact(
        cls,
        items: list[Any],
        runs: list[tuple[int, str]],
        response: dict[str, Any] | None,
        source: str,
    ) -> Report:
        """A report whose ``items`` are RecordResults or, for records the fast path handled,
        their Meta alone; ``runs`` gives those records' outcome: ``(index, outcome)`` holds
        from ``items[index]`` on until the next run."""
        self = cls.__new__(cls)
        if runs:
            self._fill(None, items, runs, response, source)
        else:
            self._fill(items, None, None, response, source)
        return self

    @property
    def records(self) -> list[RecordResult]:
        """One :class:`RecordResult` per record, in event order."""
        records = self._records
        if records is None:
            records = _materialise(self._items, self._runs)
            object.__setattr__(self, "_records", records)
            object.__setattr__(self, "_items", None)
        return records

    @property
    def failures(self) -> list[RecordResult]:
        """The records reported back as failures, in order."""
        return [r for r in self.records if r.outcome in FAILED_OUTCOMES]

    def counts(self) -> dict[tuple[str, int, str], int]:
        """Counts per (type, version, outcome); unstamped records count as ("(none)", 0)."""
        out: dict[tuple[str, int, str], int] = {}
        for r in self.records:
            m = r.meta
            k = (NO_TYPE, 0, r.outcome) if m is None else (m.type, m.version, r.outcome)
            out[k] = out.get(k, 0) + 1
        return out

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Report is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Report is immutable: cannot delete {name!r}")

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


class _NotProcessed(VersionedMsgsError):
    """A FIFO / Kinesis record left unprocessed after an earlier failure in its group."""


class _Fast:
    """A fast-path entry: everything the SQS loop needs for one distinct stamp."""

    __slots__ = ("decode", "fn", "n_vmsg", "outcome", "rejects_envelope", "template")

    def __init__(
        self,
        decode: Callable[[Any], Any],
        fn: Callable[[Any, Meta], Any],
        outcome: str,
        template: Meta,
        n_vmsg: int,
        rejects_envelope: bool,
    ) -> None:
        self.decode = decode
        self.fn = fn
        self.outcome = outcome
        self.template = template
        self.n_vmsg = n_vmsg
        # True when ``decode`` is known to raise for an embedded envelope
        self.rejects_envelope = rejects_envelope


def _rejects_envelope(model: Any) -> bool:
    """True when decoding an embedded envelope (``{"vmsg": {...}, "data": {...}}``) into the
    msgspec Struct ``model`` must fail: it forbids unknown fields, or it requires a field
    the envelope does not have. Other models: False (nothing is assumed)."""
    if not (isinstance(model, type) and issubclass(model, msgspec.Struct)):
        return False
    if model.__struct_config__.forbid_unknown_fields:
        return True
    return any(
        f.required and f.encode_name not in ("vmsg", "data") for f in msgspec.structs.fields(model)
    )


_MISSING: Any = object()
_GET_ATTRS = operator.itemgetter("messageAttributes")
_GET_BODY = operator.itemgetter("body")
_GET_MID = operator.itemgetter("messageId")
_GET_SYSTEM = operator.itemgetter("attributes")
_GROUP = "MessageGroupId"
_contains = operator.contains
_eq = operator.eq
_repeat = itertools.repeat
_NEVER: Any = object()  # equal to no attributes
_NO_ID: dict[str, Any] = {}  # the response when a failure has no identifier (see process)
_NO_META = Meta(type="-", version=1)
_DIGEST = "md5OfMessageAttributes"
_GET_DIGEST = operator.itemgetter(_DIGEST)
# (decode, handler, Meta template, copy of the user's attributes, outcome) for one stamp
_State = tuple[
    Callable[[Any], Any],
    Callable[[Any, Meta], Any],
    Meta,
    Callable[[], dict[str, Any]],
    str | None,
]


_GET_DATA_TYPE = operator.itemgetter("dataType")
_GET_STRING_VALUE = operator.itemgetter("stringValue")


def _users_by_name(attrs: list[Any], first: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
    """:func:`plain_attributes` of each record's attributes, which all have ``first``'s
    names: String attributes (a trace id, say) read one name at a time in C-level passes,
    anything else record by record."""
    names = [k for k in first if not k.startswith(PREFIX)]
    if not names:
        return list(map(dict, _repeat((), n)))
    columns = []
    try:
        for name in names:
            entries = list(map(operator.itemgetter(name), attrs))
            if list(map(_GET_DATA_TYPE, entries)).count("String") != n:
                raise TypeError  # not all String: plain_attributes reads them
            values = list(map(_GET_STRING_VALUE, entries))
            "".join(values)  # a TypeError unless every value is a str
            columns.append(values)
    except (TypeError, KeyError):
        return list(map(plain_attributes, attrs))
    return list(map(dict, map(zip, _repeat(names, n), zip(*columns, strict=True))))


class _Unusual(Exception):
    """A record the SQS fast path leaves to the general path."""


def _no_fast(body: Any) -> Any:
    raise _Unusual


def _no_handler(msg: Any, meta: Meta) -> None:  # pragma: no cover - never reached
    raise AssertionError("the fast path ran without an entry")


_NO_STATE: _State = (_no_fast, _no_handler, _NO_META, dict, None)


_FAST_MAX = 4096
_OPTIONAL_ATTRS = (ATTR_PRODUCER, ATTR_READABLE_BY, ATTR_CONTENT_TYPE)


class _Route:
    """What to do with one (type, version): computed once, then looked up per record."""

    __slots__ = ("action", "fast", "fn", "into", "model_version", "outcome", "reason", "upto")

    def __init__(
        self,
        action: str,
        *,
        fn: Callable[[Any, Meta], Any] | None = None,
        into: type[Any] | None = None,
        model_version: int = 0,
        outcome: str = "handled",
        fast: Callable[[Any], Any] | None = None,
        upto: int = 0,
        reason: str = "",
    ) -> None:
        self.action = action  # "decode" | "ignore" | "newer" | "unknown"
        self.fn = fn
        self.into = into
        self.model_version = model_version
        self.outcome = outcome
        self.fast = fast
        self.upto = upto
        self.reason = reason


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
        self.registry = registry
        self.on_newer = on_newer
        self.on_unknown = on_unknown
        self.on_unversioned = on_unversioned
        self.park_queue_url = park_queue_url
        self.metrics = metrics
        self.reader = S3Reader(registry, s3=s3, max_bytes=max_bytes)
        self._sqs = sqs
        # type -> {model version: (handler, model)}
        self._handlers: dict[str, dict[int, tuple[Callable[[Any, Meta], Any], type[Any]]]] = {}
        # type -> None (every version) or the ignored versions
        self._ignored: dict[str, frozenset[int] | None] = {}
        self._routes: dict[str, dict[int, _Route]] = {}
        self._fast: dict[tuple[Any, ...], _Fast | None] = {}
        # md5OfMessageAttributes digests verified, with the attributes they stand for
        self._digests: dict[str, dict[str, Any]] = {}
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
            self._routes.clear()
            self._fast.clear()
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
        self._routes.clear()
        self._fast.clear()

    # ---- routing ------------------------------------------------------------------------

    def _route(self, type: str, version: int) -> _Route:
        by_type = self._routes.get(type)
        if by_type is None:
            by_type = self._routes[type] = {}
        route = by_type.get(version)
        if route is None:
            route = by_type[version] = self._make_route(type, version)
        return route

    def _make_route(self, type: str, version: int) -> _Route:
        if type in self._ignored:
            ign = self._ignored[type]
            if ign is None or version in ign:
                return _Route("ignore")
        registry = self.registry
        if type not in registry.types():
            return _Route("unknown", reason=str(UnknownTypeError(type, registry.types())))
        handlers = self._handlers.get(type)
        if not handlers:
            return _Route("unknown", reason=f"{type} v{version}: no handler in this consumer")
        current = registry.current(type)
        exact = handlers.get(version)
        if exact is not None:
            fn, model = exact
            codec = registry._types[type].models[version].codec
            return _Route(
                "decode",
                fn=fn,
                into=model,
                model_version=version,
                outcome="handled" if version == current else "routed",
                fast=codec.decode,
            )
        top = max(handlers)
        if version > top:
            fn, model = handlers[top]
            return _Route("newer", fn=fn, into=model, model_version=top, upto=top)
        cur = handlers.get(current)
        if cur is not None and version < current:
            try:
                fast = registry._upgrading_decoder(type, version)
            except VersionedMsgsError:  # a missing upgrader: the general path names it
                fast = None
            return _Route(
                "decode",
                fn=cur[0],
                into=cur[1],
                model_version=current,
                outcome="upgraded",
                fast=fast,
            )
        takes = ", ".join(f"v{v}" for v in sorted(handlers))
        return _Route(
            "unknown",
            reason=f"{type} v{version}: no handler takes this version (handlers take {takes})",
        )

    # ---- processing ---------------------------------------------------------------------

    def process(self, event: Any, context: Any = None) -> Report:
        """Process every record of a Lambda event; never raises for a record's failure.

        The counts go to ``metrics`` once, for the whole invocation. Raises
        :class:`EventShapeError` for an event of no known shape.
        """
        trigger, raw = event_records(event)
        runs: list[tuple[int, str]] = []
        if trigger == SQS:
            items, runs, results = self._process_sqs(raw)
        else:
            items = results = []
            append = results.append
            stopped: set[str] = set()
            for rec in raw:
                for r in expand(trigger, rec):
                    append(self._guarded(r, stopped))
        report = Report._compact(items, runs, self._response(trigger, results), trigger)
        if report.response is _NO_ID:
            # A failure without an identifier cannot be reported alone: fail the batch.
            raise RecordsFailedError(Report._compact(items, runs, None, trigger))
        if self.metrics is not None:
            try:
                self.metrics.emit(report.counts())
            except Exception:  # metrics must never make messages fail
                _log_exception("versioned_msgs: the metrics sink raised; counts lost")
        return report

    def handle_event(self, event: Any, context: Any = None) -> Any:
        """Process an event and return what Lambda expects.

        SQS and Kinesis: ``{"batchItemFailures": [...]}``. SNS, S3 and EventBridge (async
        invocations): None, or :class:`RecordsFailedError` after every record was processed
        when any was retried, rejected or failed.
        """
        report = self.process(event, context)
        if report.source in _ASYNC:
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
        stopped: set[str] = set()
        return trigger, [self._guarded(r, stopped) for rec in recs for r in expand(trigger, rec)]

    def _response(self, trigger: str, results: list[RecordResult]) -> dict[str, Any] | None:
        """The Lambda response from the results that may have failed, in event order
        (``_NO_ID`` when a failure has no identifier to report it by)."""
        if trigger in _ASYNC:
            return None
        items: list[dict[str, str]] = []
        seen: set[str] = set()
        for r in results:
            if r.outcome in FAILED_OUTCOMES:
                mid = r.message_id
                if mid is None:
                    return _NO_ID
                if mid not in seen:
                    seen.add(mid)
                    items.append({"itemIdentifier": mid})
        return {"batchItemFailures": items}

    def _fast_entry(self, key: tuple[Any, ...], attrs: Any) -> _Fast | None:
        """The fast-path entry for one distinct stamp (None: take the general path)."""
        entry: _Fast | None = None
        try:
            stamp = Stamp.from_message_attributes(attrs)
        except VersionedMsgsError:
            stamp = None
        if stamp is not None and stamp.content_type == JSON:
            route = self._route(stamp.type, stamp.version)
            if route.fast is not None and route.fn is not None:
                template = Meta(
                    type=stamp.type,
                    version=stamp.version,
                    model_version=route.model_version,
                    upgraded_from=stamp.version if route.outcome == "upgraded" else None,
                    readable_by=stamp.readable_by,
                    producer=stamp.producer,
                    content_type=stamp.content_type,
                    source=SQS,
                )
                n_vmsg = 2 + sum(1 for k in _OPTIONAL_ATTRS if k in attrs)
                # (the upgrading decoder refuses envelopes itself, before any upgrader runs)
                rejects = route.outcome == "upgraded" or _rejects_envelope(route.into)
                entry = _Fast(route.fast, route.fn, route.outcome, template, n_vmsg, rejects)
        if len(self._fast) >= _FAST_MAX:
            self._fast.clear()
        self._fast[key] = entry
        return entry

    def _process_sqs(
        self, raw: list[Any]
    ) -> tuple[list[Any], list[tuple[int, str]], list[RecordResult]]:
        """SQS: the fast path for stamped compact-JSON records, the general path otherwise.

        Returns the items of a compact :class:`Report` (a Meta per record the fast path
        handled, a RecordResult per other record), their outcome runs, and the RecordResults
        alone (the only ones that can have failed).

        A standard queue's batch whose records all carry equal attributes is checked as a
        whole first (:meth:`_uniform_batch`). Otherwise each record's ``messageAttributes``
        is compared with a snapshot of the last distinct ones in one C-level comparison;
        only when they differ is the stamp read, through a per-consumer table keyed on the
        stamp attributes' raw values (each distinct stamp is parsed, validated and routed
        once). Anything unusual (no usable stamp, a body that is not a compact JSON object
        or is an embedded envelope, a decode error, a stopped FIFO group) takes the general
        path, which gives the same results.
        """
        uniform = self._uniform_batch(raw)
        if uniform is not None:
            return uniform
        items: list[Any] = []
        append = items.append
        runs: list[tuple[int, str]] = []
        results: list[RecordResult] = []
        fifo = bool(raw) and is_fifo_record(raw[0])
        stopped: set[str] = set()
        replace = msgspec.structs.replace
        seen: Any = _NEVER  # snapshot of the last distinct attributes
        loaded: _State = _NO_STATE
        decode, fn, template, copy_user, _ = loaded
        outcome: str | None = None
        # Verified md5OfMessageAttributes digests and their states: with them, a record's
        # attributes are told by one string (mixed versions interleave a few distinct ones).
        # A digest is verified when it comes back (or is known from an earlier batch): a
        # per-message attribute (a trace id) makes every digest distinct, and verifying
        # each would cost an MD5 per record for nothing.
        states: dict[str, _State] = {}
        once: set[str] = set()  # digests seen once in this batch, not verified
        current: str | None = None  # the verified digest of ``loaded``, if any
        # A snapshot costs about two comparisons: when records keep differing (mixed
        # versions, a per-message attribute) only every other differing record takes one.
        snapshot = True
        for rec in raw:
            try:
                digest = rec[_DIGEST] if _DIGEST in rec else None  # noqa: SIM401 (as below)
                if digest is None or digest != current:
                    state = states.get(digest) if digest is not None else None
                    if state is None:
                        attrs = rec["messageAttributes"]
                        if attrs != seen:
                            seen = _NEVER
                            state = self._fast_state(attrs)
                            if snapshot:
                                seen = {k: dict(a) for k, a in attrs.items()}
                            snapshot = not snapshot
                        else:
                            state = loaded
                        current = None
                        if digest is None:
                            pass
                        elif digest not in once and digest not in self._digests:
                            once.add(digest)
                        elif self._digest_matches(digest, attrs):
                            states[digest] = state
                            current = digest
                    else:
                        current = digest
                        seen = _NEVER  # the snapshot no longer matches what is loaded
                    if state is not loaded:
                        loaded = state
                        decode, fn, template, copy_user, out = state
                        if out is not None and out is not outcome:
                            outcome = out
                            runs.append((len(items), out))
                body = rec["body"]
                mid = rec["messageId"]
                system = rec["attributes"]
                # (not .get: a method call costs more than the usual miss)
                gid = system["MessageGroupId"] if "MessageGroupId" in system else None  # noqa: SIM401
                # The body must be a str starting '{"' but not '{"vmsg"' (an embedded
                # envelope): two string comparisons, where bytes raise a TypeError.
                if (
                    type(mid) is not str
                    or not ('{"' <= body < '{"vmsg"' or '{"vmsg#' <= body < "{#")
                    or (gid is not None and type(gid) is not str)
                    or (fifo and (gid or "") in stopped)
                ):
                    raise _Unusual
                msg = decode(body)
            except Exception:  # let the general path deal with it (or name the problem)
                for r in expand(SQS, rec):
                    result = self._guarded(r, stopped)
                    append(result)
                    results.append(result)
                continue
            meta = replace(
                template, message_id=mid, attributes=copy_user(), group_id=gid, record=rec
            )
            try:
                fn(msg, meta)
            except Exception as exc:
                result = RecordResult("failed", mid, meta, exc)
                append(result)
                results.append(result)
                if fifo:
                    stopped.add(gid or "")
                continue
            append(meta)
        return items, runs, results

    def _uniform_batch(
        self, raw: list[Any]
    ) -> tuple[list[Any], list[tuple[int, str]], list[RecordResult]] | None:
        """The common batch, checked as a whole: a standard queue's records all carrying
        equal ``messageAttributes`` with a usable stamp (or equal stamp attributes and the
        same user attribute names, such as a per-message trace id), string message ids, no
        message group and compact-JSON object bodies. Returns what :meth:`_process_sqs`
        returns, or None (nothing processed) for any other batch.

        The checks run as C-level passes over the batch before any handler runs, which
        leaves the per-record loop with the decode, the Meta and the handler call.
        """
        n = len(raw)
        if n < 2 or is_fifo_record(raw[0]):
            return None
        try:
            first = raw[0]["messageAttributes"]
            users: list[dict[str, Any]] | None = None
            # Equal attributes, told by SQS's digest of them (one string per record) or else
            # by deep equality (same stamp, same user attributes), stopping at the first
            # record that differs. When neighbours differ (a per-message attribute, say), the
            # same names and deep-equal vmsg-* attributes (the same stamp) will do: the
            # user's attributes are then read record by record.
            attrs = None if self._same_digest(raw, first, n) else list(map(_GET_ATTRS, raw))
            if attrs is not None and attrs != [first] * n:
                if n < 3 or attrs[1] == attrs[2]:  # mostly equal: see _process_sqs
                    return None
                stamp_attrs = operator.itemgetter(*(k for k in first if k.startswith(PREFIX)))
                if not all(
                    map(_eq, map(stamp_attrs, attrs), _repeat(stamp_attrs(first), n))
                ) or not all(map(_eq, map(dict.keys, attrs), _repeat(first.keys(), n))):
                    return None
                users = _users_by_name(attrs, first, n)
            if any(map(_contains, map(_GET_SYSTEM, raw), _repeat(_GROUP, n))):
                return None
            mids = list(map(_GET_MID, raw))
            "".join(mids)  # a TypeError unless every message id is a str
            bodies = list(map(_GET_BODY, raw))
            entry, user = self._fast_attrs(first, self._fast)
            if entry is None:
                return None
            # Every body a str starting '{"' but not '{"vmsg"' (an embedded envelope), when
            # the smallest and the largest lie on the same side of '{"vmsg"' (or else the
            # per-record loop decides); anything but str raises a TypeError here. Not needed
            # when the decoder itself fails on an envelope (then the general path unwraps it).
            if not entry.rejects_envelope:
                lo = min(bodies)
                hi = max(bodies)
                if not ('{"' <= lo <= hi < '{"vmsg"' or '{"vmsg#' <= lo <= hi < "{#"):
                    return None
        except Exception:
            return None
        decode, fn, template = entry.decode, entry.fn, entry.template
        replace = msgspec.structs.replace
        items: list[Any] = []
        append = items.append
        results: list[RecordResult] = []
        if users is None:
            # Each record's own copy of the user's attributes (handlers may change theirs),
            # all made in one C-level pass: cheaper than one copy per turn of the loop below.
            users = list(map(dict.copy, _repeat(user, n)))
        for rec, body, mid, attributes in zip(raw, bodies, mids, users, strict=True):
            try:
                msg = decode(body)
            except Exception:  # the general path names the problem
                for r in expand(SQS, rec):
                    result = self._guarded(r, set())
                    append(result)
                    results.append(result)
                continue
            meta = replace(template, message_id=mid, attributes=attributes, record=rec)
            try:
                fn(msg, meta)
            except Exception as exc:
                result = RecordResult("failed", mid, meta, exc)
                append(result)
                results.append(result)
                continue
            append(meta)
        return items, [(0, entry.outcome)], results

    def _same_digest(self, raw: list[Any], first: Any, n: int) -> bool:
        """True when every record's ``md5OfMessageAttributes`` equals the first record's and
        is SQS's digest of the first record's attributes: then every record carries those
        attributes (SQS computes the digest when the message is sent; records that differ
        would need an MD5 collision, and whoever can craft one can send either attribute set
        directly). A hand-built event without digests, or with made-up ones, returns False.
        """
        try:
            d0 = raw[0][_DIGEST]
            if type(d0) is not str:  # (a hand-built event's null digests: no pass at all)
                return False
            digests = list(map(_GET_DIGEST, raw))
        except Exception:
            return False
        if digests.count(d0) != n:
            return False
        return self._digest_matches(d0, first)

    def _digest_matches(self, digest: str, attrs: Any) -> bool:
        """True when ``digest`` is SQS's digest of ``attrs``. A verified digest is remembered
        with a snapshot of its attributes, so later records and batches pay one comparison.
        """
        known = self._digests.get(digest)
        if known is None:
            if type(digest) is not str or attributes_digest(attrs) != digest:
                return False
            if len(self._digests) >= _FAST_MAX:
                self._digests.clear()
            known = self._digests[digest] = {k: dict(a) for k, a in attrs.items()}
        return bool(attrs == known)

    def _fast_state(self, attrs: Any) -> _State:
        """What the per-record loop needs for records carrying ``attrs``."""
        entry, user = self._fast_attrs(attrs, self._fast)
        if entry is None:
            return _NO_STATE
        return (entry.decode, entry.fn, entry.template, user.copy if user else dict, entry.outcome)

    def _fast_attrs(
        self, attrs: Any, table: dict[tuple[Any, ...], _Fast | None]
    ) -> tuple[_Fast | None, dict[str, Any]]:
        """The fast-path entry and the user's attributes of one record's attributes."""
        t = attrs[ATTR_TYPE]
        v = attrs[ATTR_VERSION]
        p = attrs.get(ATTR_PRODUCER)
        rb = attrs.get(ATTR_READABLE_BY)
        ct = attrs.get(ATTR_CONTENT_TYPE)
        key = (
            t["stringValue"],
            t["dataType"],
            v["stringValue"],
            v["dataType"],
            p and p["stringValue"],
            p and p["dataType"],
            rb and rb["stringValue"],
            rb and rb["dataType"],
            ct and ct["stringValue"],
            ct and ct["dataType"],
        )
        entry = table.get(key, _MISSING)
        if entry is _MISSING:
            entry = self._fast_entry(key, attrs)
        if entry is None:
            return None, {}
        return entry, {} if len(attrs) == entry.n_vmsg else plain_attributes(attrs)

    def _guarded(self, r: Record, stopped: set[str]) -> RecordResult:
        """The general path, with FIFO/Kinesis stop semantics; never raises an Exception."""
        key = r.order_key
        if key is not None and key in stopped:
            return RecordResult(
                "retried",
                r.message_id,
                None,
                _NotProcessed(
                    f"{r.message_id}: not processed, an earlier record of "
                    + (f"shard {key!r}" if r.trigger == "kinesis" else f"message group {key!r}")
                    + " failed and order is kept",
                    message_id=r.message_id,
                ),
            )
        try:
            result = self._one(r)
        except Exception as exc:  # a bug of ours must not lose the record
            _log_exception("versioned_msgs: unexpected error processing %s", r.message_id)
            result = RecordResult("failed", r.message_id, None, exc)
        if key is not None and result.outcome in FAILED_OUTCOMES:
            stopped.add(key)
        return result

    def _meta_from(self, r: Record, stamp: Stamp, base: Meta | None = None) -> Meta:
        fields = {
            "source": r.source,
            "message_id": r.message_id,
            "attributes": plain_attributes(r.attributes),
            "group_id": r.group_id,
            "bucket": r.bucket,
            "key": r.key,
            "record": r.raw,
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

    def _one(self, r: Record) -> RecordResult:
        kind = r.kind
        mid = r.message_id
        if kind == INVALID:
            return RecordResult("rejected", mid, None, r.error)
        if kind == SKIP:
            return RecordResult("skipped", mid, None, None)
        stamp: Stamp | None = None
        body: bytes | str | None = r.body
        try:
            if r.attributes:
                stamp = Stamp.from_message_attributes(r.attributes)
            if kind in (OBJECT, POINTER):
                bucket, key = r.bucket or "", r.key or ""
                if kind == OBJECT:
                    obj = self.reader.fetch(
                        bucket, key, etag=r.etag, version_id=r.version_id, size=r.size
                    )
                else:
                    obj = self.reader.fetch(bucket, key)
                body = obj.body
                if stamp is None:
                    stamp = obj.stamp
            raw_body = body.encode() if isinstance(body, str) else (body or b"")
            if looks_embedded(raw_body):
                inner, data = unembed(raw_body)
                raw_body = data
                if stamp is None:
                    stamp = inner
        except StaleObjectError as exc:
            # A notification's object overwritten or deleted since: its successor has its own
            # event. A large payload's object gone is the message lost: never skip that.
            return RecordResult("skipped" if kind == OBJECT else "rejected", mid, None, exc)
        except VersionedMsgsError as exc:
            # malformed stamps, oversized objects: retrying cannot help
            return RecordResult("rejected", mid, None, exc)
        except Exception as exc:  # S3 unreachable, access denied...: worth retrying
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
        return self._decode(r, stamp, raw_body)

    def _decode(self, r: Record, stamp: Stamp, body: bytes) -> RecordResult:
        mid = r.message_id
        route = self._route(stamp.type, stamp.version)
        action = route.action
        if action == "ignore":
            return RecordResult("ignored", mid, self._meta_from(r, stamp), None)
        if action == "unknown":
            meta = self._meta_from(r, stamp)
            err: VersionedMsgsError = UnknownTypeError(
                stamp.type, self.registry.types(), message_id=mid
            )
            if stamp.type in self.registry.types():
                err = UnsupportedVersionError(
                    route.reason,
                    type=stamp.type,
                    version=stamp.version,
                    current=self.registry.current(stamp.type),
                    message_id=mid,
                )
            return self._policy(self.on_unknown, r, meta, err, "unknown")
        if action == "newer":
            rb = stamp.readable_by
            if rb is None or rb > route.upto:
                meta = self._meta_from(r, stamp)
                handled = (
                    f"handlers take up to v{route.upto}"
                    if route.upto == self.registry.current(stamp.type)
                    else f"the newest handler takes v{route.upto}"
                )
                err = UnsupportedVersionError(
                    f"{stamp.type} v{stamp.version} is newer than this reader ({handled}) and "
                    + ("declares no readable_by" if rb is None else f"is readable only by v{rb}")
                    + " and newer",
                    type=stamp.type,
                    version=stamp.version,
                    current=route.upto,
                    message_id=mid,
                )
                return self._policy(self.on_newer, r, meta, err, "newer")
        try:
            msg, meta0 = self.registry.decode_stamped(body, stamp, route.into)
        except UnsupportedVersionError as exc:
            meta = self._meta_from(r, stamp)
            if stamp.version > self.registry.current(stamp.type):
                return self._policy(self.on_newer, r, meta, exc, "newer")
            return self._policy(self.on_unknown, r, meta, exc, "unknown")
        except VersionedMsgsError as exc:
            return RecordResult("rejected", mid, self._meta_from(r, stamp), exc)
        meta = self._meta_from(r, stamp, meta0)
        if meta0.upgraded_from is not None:
            outcome = "upgraded"
        elif meta0.version > meta0.model_version:
            outcome = "tolerated"
        else:
            outcome = route.outcome
        try:
            route.fn(msg, meta)  # type: ignore[misc]
        except Exception as exc:
            return RecordResult("failed", mid, meta, exc)
        return RecordResult(outcome, mid, meta, None)

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
        unversioned_type=registry.lookup(model)[0] if isinstance(on_unversioned, int) else None,
    )

    def decorate(fn: Callable[[_M, Meta], Any]) -> LambdaHandler[_M]:
        consumer.handler(model)(fn)
        return LambdaHandler(consumer, fn)

    return decorate
