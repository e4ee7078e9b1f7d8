"""What every fast path shares: the contract, entries, hand-backs and the per-record loop.

A fast path is a shortcut of the consumer's reference path
(:meth:`Consumer._process_in_order <versioned_msgs._aws.consumer.Consumer._process_in_order>`):
for every record it returns exactly the :class:`~.report.RecordResult` the reference path
would, in event order, FIFO groups and Kinesis shards stopping at their first failure as
there. It finishes a record itself only when it can prove the reference path would decode
that record's body with a prebuilt decoder and call a handler; it hands **every other record
back**, as it is, to the reference path, and counts why (:class:`FastPathStats`).

Two fast paths exist:

- :mod:`.sqs_fast`, for SQS records whose stamp is in their own ``messageAttributes``
  (raw SQS, SNS -> SQS with raw delivery), tuned for batches of equal attributes;
- :class:`ShapedFastPath` here, one loop for every source whose stamp travels inside the
  body, the record or an S3 object (SNS envelopes, EventBridge events and S3 notifications
  in SQS bodies, Kinesis records, EventBridge events invoking Lambda). A ``Shape`` (see
  :mod:`.fast_shapes`) says how to split one raw record into what the loop needs (a
  :data:`Split`), and how to finish a record it handed back after reading its S3 object.

Both build entries with :func:`make_entry`: one per distinct stamp, holding the plan's
decoder and handler and a ``Meta`` template that each record's own fields complete.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from .._core.codec import refuses_envelope
from .._core.errors import VersionedMsgsError
from .._core.meta import Meta
from .._core.stamp import JSON, Stamp
from .._core.trace import TraceContext
from . import clock
from .events import EVERY_ORDER_KEY as _EVERY
from .report import Outcome, RecordResult

if TYPE_CHECKING:
    from .consumer import Plan

__all__ = [
    "ENTRIES_MAX",
    "Entry",
    "FastPathStats",
    "HandBack",
    "HandBackReason",
    "Loaded",
    "NOTHING_LOADED",
    "PlanFor",
    "Processed",
    "Reference",
    "ShapedFastPath",
    "Split",
    "make_entry",
]

#: Why a record was handed back to the reference path.
HandBackReason = Literal[
    "no fast plan",  # unstamped, malformed or non-JSON stamp, or a plan other than decode
    "body",  # not a compact JSON object, an embedded envelope, or not the source's shape
    "decode",  # the decoder raised (the reference path names the problem)
    "stopped group",  # an earlier record of its FIFO group or Kinesis shard failed
    "record shape",  # a field missing or of the wrong type
    "deadline",  # Lambda's deadline is near: the reference path defers the record
    "object",  # an S3 object that could not be read (the reference path's result for it)
    "unexpected",  # anything else: a bug of the fast path
]

#: ``plan_for(type, version, readable_by)``: the consumer's plan lookup.
PlanFor = Callable[[str, int, "int | None"], "Plan"]

#: (items, runs, results): what Consumer._process assembles a Report from (see
#: Report._compact): the Meta alone for a record a fast path handled, a RecordResult for any
#: other; the outcome runs; and the RecordResults alone (the only ones that can have failed).
Processed = tuple[list[Any], list[tuple[int, Outcome]], list[RecordResult]]

ENTRIES_MAX = 4096  # distinct stamps remembered per fast path (then forgotten, not grown)


class FastPathStats:
    """Counts kept for one consumer by all its fast paths: ``fast`` records they finished
    themselves, and ``handed_back`` records per :data:`HandBackReason`."""

    __slots__ = ("fast", "handed_back")

    def __init__(self) -> None:
        self.fast = 0
        self.handed_back: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"FastPathStats(fast={self.fast}, handed_back={dict(self.handed_back)})"


class HandBack(Exception):
    """Raised inside a per-record loop: give this record to the reference path. Its first
    argument, when given, is the :data:`HandBackReason`."""


class Entry:
    """What a loop needs for records carrying one distinct stamp."""

    __slots__ = (
        "decode",
        "handler",
        "n_stamp_attrs",
        "outcome",
        "rejects_envelope",
        "struct",
        "template",
    )

    def __init__(
        self,
        decode: Callable[[Any], Any],
        handler: Callable[[Any, Meta], Any],
        outcome: Outcome,
        template: Meta,
        rejects_envelope: bool,
        struct: type[Any] | None = None,
    ) -> None:
        self.decode = decode
        self.handler = handler
        self.outcome = outcome
        self.template = template
        # True when ``decode`` is known to raise for an embedded envelope
        self.rejects_envelope = rejects_envelope
        # the msgspec Struct ``decode`` is the own decoder of (None: another kind of decode)
        self.struct = struct
        # (SQS: how many of the record's attributes are the stamp's; more means user ones)
        self.n_stamp_attrs = 0


def make_entry(
    stamp: Stamp | None, plan_for: PlanFor, source: str, carried: TraceContext | None = None
) -> Entry | None:
    """The entry of records carrying ``stamp`` (None: such records are handed back).

    Only a JSON payload whose plan decodes with a prebuilt decoder has one: handled as-is,
    routed to an older model, or upgraded. Its template is the ``Meta`` the reference path
    gives such a record, less the record's own fields (message id, attributes, group id,
    raw record); ``carried`` is the trace context the carrier itself holds (an envelope
    header's, say).
    """
    if stamp is None or stamp.content_type != JSON:
        return None
    plan = plan_for(stamp.type, stamp.version, stamp.readable_by)
    if plan.action != "decode" or plan.decoder is None:
        return None
    assert plan.handler is not None
    upgraded = plan.outcome == "upgraded"
    template = Meta(
        type=stamp.type,
        version=stamp.version,
        model_version=plan.model_version,
        upgraded_from=stamp.version if upgraded else None,
        readable_by=stamp.readable_by,
        producer=stamp.producer,
        content_type=stamp.content_type,
        source=source,
        carried_trace=carried,
    )
    # (the upgrading decoder refuses envelopes itself, before any upgrader runs)
    rejects = upgraded or refuses_envelope(plan.model)
    model = plan.model
    struct = (
        model
        if plan.outcome in ("handled", "routed")
        and isinstance(model, type)
        and issubclass(model, msgspec.Struct)
        else None
    )
    return Entry(plan.decoder, plan.handler, plan.outcome, template, rejects, struct)


# ---- one loop for every shaped source ------------------------------------------------------

#: What a shape takes from one raw record: the stamp's carrier (compared in full with the
#: last one seen, never trusted by digest), the body to decode, the message id, Meta's group
#: id, the order key (FIFO group or Kinesis shard; None: unordered), and Meta's bucket and
#: key (an S3 object's; None for the others).
Split = tuple[Any, Any, "str | None", "str | None", "str | None", "str | None", "str | None"]
#: ``split(record, fifo)``
TypedSplit = Callable[[Any, bool], Split]


if TYPE_CHECKING:  # (only mypy reads it)

    class Shape(Protocol):
        """How a source's raw records are read by :class:`ShapedFastPath`."""

        @property
        def source(self) -> str:
            """What ``Meta.source`` says for its records."""
            ...

        def split(self, rec: Any, fifo: bool) -> Split:
            """The record's parts; raises :class:`HandBack` (with a reason) or any exception
            for a record the reference path must take."""
            ...

        def key(self, carrier: Any) -> Hashable:
            """The carrier as a key of the entries table (its bytes, say)."""
            ...

        def stamp(self, key: Any) -> tuple[Stamp | None, dict[str, Any], TraceContext | None]:
            """The stamp (None: none, or malformed), the user's plain attributes and the trace
            context the payload carries (``Meta.carried_trace``) read from a carrier's ``key``."""
            ...

        def resume(self, rec: Any) -> list[RecordResult] | None:
            """The reference path's results for ``rec`` when the shape already did part of its
            work (an S3 object read: never read twice); None: give ``rec`` to the reference
            path whole."""
            ...

        def typed_split(self, model: type[Any]) -> TypedSplit | None:
            """A ``split`` that also decodes the body into ``model`` (a msgspec Struct) in the
            same pass, exactly as the model's own decoder decodes the body ``split`` returns;
            None when the shape has none. Raises or returns a carrier like ``split``."""
            ...


#: ``reference(record, stopped, fifo, deadline)``: one raw record through the reference path.
Reference = Callable[[Any, set[str], bool, float], list[RecordResult]]


#: A per-record loop's state for the stamp carrier it last recognised: the decoder, the
#: handler, the Meta template, a function giving a fresh copy of the user's attributes, and
#: the outcome (None: no entry, every record is handed back). A plain tuple: a NamedTuple
#: class would cost about 0.2 ms at import for names only this module reads.
Loaded = tuple[
    Callable[[Any], Any],
    Callable[[Any, Meta], Any],
    Meta,
    Callable[[], dict[str, Any]],
    "Outcome | None",
]


def _no_entry(body: Any) -> Any:
    raise HandBack("no fast plan")


def _never_called(msg: Any, meta: Meta) -> None:  # pragma: no cover - _no_entry raises first
    raise AssertionError("the fast path ran without an entry")


NOTHING_LOADED: Loaded = (_no_entry, _never_called, Meta(type="-", version=1), dict, None)
_NO_CARRIER: Any = object()  # compares unequal to any carrier


class ShapedFastPath:
    """The fast path of one :class:`Shape`: the per-record loop every nested or embedded
    source shares.

    Per record: ``shape.split`` (its own checks), the carrier compared in full with the last
    one seen (a new one looked up among the entries, or its stamp read), the FIFO group or
    shard checked, the body decoded with the entry's decoder, the Meta completed with the
    record's own fields, the handler called. Any exception before the handler hands the
    record back; a handler that raises makes it ``failed``, as in the reference path.

    **Typed splits.** When the entry's decoder is a msgspec model's own and the shape offers
    a ``typed_split`` for that model (the embedded envelopes), the record is split and its
    data decoded straight into the model in one pass. That result is used only when the
    record's carrier equals, in full, the one the entry was read from; otherwise (another
    stamp, or a typed split that raised) the record takes the plain split above. Typed
    splits are tried once two records in a row carried the same carrier, so batches that
    keep changing stamps do not pay for attempts that miss.
    """

    def __init__(
        self, shape: Shape, plan_for: PlanFor, reference: Reference, stats: FastPathStats
    ) -> None:
        self.shape = shape
        self._plan_for = plan_for
        self._reference = reference
        self.stats = stats
        # carrier bytes -> its entry's loaded state (NOTHING_LOADED: hand such records back)
        # and its typed split (None: none)
        self._entries: dict[Hashable, tuple[Loaded, TypedSplit | None]] = {}
        self._typed: dict[type[Any], TypedSplit] = {}  # model -> the shape's typed split

    def clear(self) -> None:
        self._entries.clear()

    def _load(self, carrier: Any) -> tuple[Loaded, TypedSplit | None]:
        key = self.shape.key(carrier)
        known = self._entries.get(key)
        if known is not None:
            return known
        try:
            stamp, user, carried = self.shape.stamp(key)
        except VersionedMsgsError:
            stamp, user, carried = None, {}, None
        entry = make_entry(stamp, self._plan_for, self.shape.source, carried)
        typed: TypedSplit | None = None
        if entry is None:
            state = NOTHING_LOADED
        else:
            state = (entry.decode, entry.handler, entry.template, _copier(user), entry.outcome)
            if entry.struct is not None:
                typed = self._typed.get(entry.struct)
                if typed is None:
                    typed = self.shape.typed_split(entry.struct)
                    if typed is not None:
                        self._typed[entry.struct] = typed
        if len(self._entries) >= ENTRIES_MAX:
            self._entries.clear()
        known = self._entries[key] = (state, typed)
        return known

    def process(self, raw: list[Any], fifo: bool, deadline: float = math.inf) -> Processed:
        """Every record's result (see the module docstring); ``fifo``: the event comes from
        a FIFO queue (read from its first record, as the reference path does)."""
        split = self.shape.split
        resume = self.shape.resume
        now = clock.monotonic
        timed = deadline != math.inf  # (no context: skip the clock)
        items: list[Any] = []
        append = items.append
        runs: list[tuple[int, Outcome]] = []
        results: list[RecordResult] = []
        stopped: set[str] = set()
        replace = msgspec.structs.replace
        seen: Any = _NO_CARRIER
        decode, handler, template, copy_user, _ = NOTHING_LOADED
        typed: TypedSplit | None = None  # the loaded entry's typed split, when it has one
        trying: TypedSplit | None = None  # ... once two records in a row carried its carrier
        outcome: Outcome | None = None
        handed = 0
        for rec in raw:
            try:
                if timed and now() >= deadline:
                    raise HandBack("deadline")
                if trying is not None:
                    try:
                        carrier, msg, mid, gid, order, bucket, key = trying(rec, fifo)
                    except Exception:
                        carrier = _NO_CARRIER
                    if carrier == seen:  # in full: the data was decoded with its own model
                        if (
                            stopped
                            and order is not None
                            and (order in stopped or _EVERY in stopped)
                        ):
                            raise HandBack("stopped group")
                        trying = typed
                    else:
                        trying = None
                if trying is None:
                    carrier, body, mid, gid, order, bucket, key = split(rec, fifo)
                    if carrier != seen:  # in full
                        state, typed = self._load(carrier)
                        decode, handler, template, copy_user, out = state
                        seen = carrier
                        if out is not None and out is not outcome:
                            outcome = out
                            runs.append((len(items), out))
                    else:
                        trying = typed
                    if stopped and order is not None and (order in stopped or _EVERY in stopped):
                        raise HandBack("stopped group")
                    msg = decode(body)
            except Exception as exc:
                handed += 1
                self.stats.handed_back[_reason(exc)] += 1
                done = resume(rec)
                if done is None:
                    done = self._reference(rec, stopped, fifo, deadline)
                items += done
                results += done
                continue
            meta = replace(
                template,
                message_id=mid,
                attributes=copy_user(),
                group_id=gid,
                bucket=bucket,
                key=key,
                record=rec,
            )
            try:
                handler(msg, meta)
                # Released now, not when the next record's message replaces it: the next
                # decode then reuses its memory while still cached (EventBridge in SQS: ~85
                # fewer L1 data misses per record, of ~465).
                del msg
            except Exception as exc:
                result = RecordResult("failed", mid, meta, exc)
                append(result)
                results.append(result)
                if order is not None:
                    stopped.add(order)
                continue
            append(meta)
        self.stats.fast += len(raw) - handed
        return items, runs, results


def _reason(exc: BaseException) -> str:
    if isinstance(exc, HandBack) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, KeyError | TypeError | AttributeError):
        return "record shape"
    if isinstance(exc, ValueError | msgspec.DecodeError | RecursionError):
        # (pydantic's ValidationError is a ValueError, and the upgrading decoder wraps an
        # upgrader's own exception in one)
        return "decode"
    return "unexpected"


def _copier(user: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """A function returning a fresh copy of the user's attributes for each record (handlers
    may change theirs); a deep one when a value is itself mutable (an SNS String.Array)."""
    if not user:
        return dict
    if any(isinstance(v, list | dict) for v in user.values()):
        import copy

        return lambda: copy.deepcopy(user)
    return user.copy
