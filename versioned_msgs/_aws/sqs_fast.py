"""The SQS fast path: a proven-equal shortcut of the consumer's reference path.

Contract
--------
:meth:`SqsFastPath.process` takes the raw records of an SQS event and returns, for every
record, exactly the :class:`~.report.RecordResult` the reference path
(:meth:`Consumer._process_in_order <versioned_msgs._aws.consumer.Consumer._process_in_order>`)
would give it, in event order, FIFO groups stopping at their first failure as there.

It finishes a record itself only when all of this holds, checked on the record's **own**
fields (nothing is carried over from another record unless it is equal to the record's own
value, compared in full):

- ``messageId`` and ``body`` are strings, and ``MessageGroupId``, when present, too;
- ``messageAttributes`` carry a stamp with a JSON content type whose plan is ``decode``
  with a prebuilt decoder (handled as-is, routed to an older model, or upgraded);
- the body is not an embedded envelope: it starts ``{"`` but not ``{"vmsg"`` (or, in a
  uniform batch whose decoder refuses envelopes by itself, the decoder is left to refuse
  it), so the decoder sees the bytes the reference path would;
- the record's FIFO group has not failed earlier in the batch (whether the event comes
  from a FIFO queue is read from its first record, by both paths);
- the invocation's deadline has not passed (``clock.monotonic()`` is read before each
  record, as the reference path does);
- the decoder returns a model instance.

The record's ``Meta`` is then the plan's template with the record's own message id, user
attributes, group id and raw record, and its outcome the plan's. A handler that raises
makes the record ``failed``, as in the reference path.

Every other record is **handed back**: given, as it is, to the reference path, which
gives its result. (A record whose decoder raised is decoded again there, so a failing
upgrader runs twice for it; upgraders are meant to be pure.) A hand-back is counted in
:attr:`SqsFastPath.stats` with its reason, so the tests can prove the shortcut ran where it
should (a silent fallback would fail them).

Two shapes of batch are recognised:

- *uniform* (a batch, of a FIFO queue or not, whose records all carry attributes equal to
  the first record's, or the same stamp attributes and the same user attribute names):
  checked as a whole in C-level passes before any handler runs, then decoded record by
  record, FIFO groups stopping at their first failure;
- anything else: record by record, each record's attributes compared in full with the
  last distinct attributes seen, or with those seen under the same
  ``md5OfMessageAttributes`` (C-level comparisons; the digest only picks what to compare
  with, it is never trusted), the stamp parsed once per distinct set of stamp attribute
  values.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from .._core.attributes import (
    ATTR_CONTENT_TYPE,
    ATTR_PRODUCER,
    ATTR_READABLE_BY,
    ATTR_TYPE,
    ATTR_VERSION,
    PREFIX,
    plain_attributes,
)
from .._core.errors import VersionedMsgsError
from .._core.stamp import Stamp
from . import clock
from .events import EVERY_ORDER_KEY as _EVERY
from .events import SQS, is_fifo_record
from .fastpath import (
    ENTRIES_MAX,
    NOTHING_LOADED,
    Entry,
    FastPathStats,
    HandBack,
    Loaded,
    PlanFor,
    Processed,
    Reference,
    make_entry,
)
from .report import Outcome, RecordResult

__all__ = ["SqsFastPath"]

_NO_SNAPSHOT: Any = object()  # compares unequal to any attributes

_OPTIONAL_ATTRS = (ATTR_PRODUCER, ATTR_READABLE_BY, ATTR_CONTENT_TYPE)
_GET_ATTRS = operator.itemgetter("messageAttributes")
_GET_BODY = operator.itemgetter("body")
_GET_MID = operator.itemgetter("messageId")
_GET_SYSTEM = operator.itemgetter("attributes")
_GET_GROUP = operator.methodcaller("get", "MessageGroupId")
_GET_GROUP_ID = operator.itemgetter("MessageGroupId")
_GET_DATA_TYPE = operator.itemgetter("dataType")
_GET_STRING_VALUE = operator.itemgetter("stringValue")
_GROUP = "MessageGroupId"
_DIGEST = "md5OfMessageAttributes"
_contains = operator.contains
_repeat = itertools.repeat
_consume = deque  # deque(iterator, 0) runs an iterator through, keeping nothing


def _own_users(attrs: list[Any], first: Mapping[str, Any], n: int) -> list[dict[str, Any]] | None:
    """Each record's :func:`plain_attributes`, when every record carries stamp attributes
    equal to ``first``'s (compared in full) and ``first``'s attribute names; None otherwise.

    All C-level passes over the batch. A record has ``first``'s names when it has as many
    and each of ``first``'s (a KeyError otherwise). String attributes (a trace id, say) are
    read one name at a time; a name whose values are all equal is set once in the template
    every record's dict is copied from, the others record by record. Anything but String
    attributes: :func:`plain_attributes` record by record.
    """
    stamp_names = [k for k in first if k.startswith(PREFIX)]
    names = [k for k in first if not k.startswith(PREFIX)]
    if not stamp_names or list(map(len, attrs)).count(len(first)) != n:
        return None
    stamp = operator.itemgetter(*stamp_names)
    try:
        if list(map(stamp, attrs)) != [stamp(first)] * n:
            return None
        columns = [list(map(operator.itemgetter(name), attrs)) for name in names]
    except KeyError:  # a record without one of first's names
        return None
    template: dict[str, Any] = dict.fromkeys(names)
    varying: list[tuple[str, list[str]]] = []
    try:
        for name, entries in zip(names, columns, strict=True):
            if list(map(_GET_DATA_TYPE, entries)).count("String") != n:
                raise TypeError  # not all String: plain_attributes reads them
            values = list(map(_GET_STRING_VALUE, entries))
            "".join(values)  # a TypeError unless every value is a str
            if values == [values[0]] * n:
                template[name] = values[0]
            else:
                varying.append((name, values))
    except (TypeError, KeyError):
        return list(map(plain_attributes, attrs))
    users = list(map(dict.copy, _repeat(template, n)))
    for name, values in varying:
        _consume(map(operator.setitem, users, _repeat(name, n), values), 0)
    return users


def _compact_object(body: str) -> bool:
    """The body test of the contract: starts ``{"`` and is not an embedded envelope."""
    return '{"' <= body < '{"vmsg"' or '{"vmsg#' <= body < "{#"


def _shape_ok(rec: Any) -> bool:
    """True when a record has the fields the fast path reads, of the right types."""
    if type(rec) is not dict:
        return False
    system = rec.get("attributes")
    return (
        type(rec.get("messageId")) is str
        and type(rec.get("body")) is str
        and type(rec.get("messageAttributes")) is dict
        and type(system) is dict
        and type(system.get(_GROUP, "")) is str
    )


class SqsFastPath:
    """The SQS shortcut of one consumer (see the module docstring for its contract).

    ``plan_for(type, version, readable_by)`` is the consumer's plan lookup;
    ``reference(record, stopped, fifo, deadline)`` runs one raw record of a FIFO queue's
    event or not through the reference path (``stopped``: the FIFO groups that failed so
    far; ``deadline``: the ``clock.monotonic()`` time after which no record starts).
    :meth:`clear` forgets every entry (the consumer's handlers changed).
    """

    def __init__(
        self, plan_for: PlanFor, reference: Reference, stats: FastPathStats | None = None
    ) -> None:
        self._plan_for = plan_for
        self._reference = reference
        # raw stamp attribute values -> entry (None: hand such records back)
        self._entries: dict[tuple[Any, ...], Entry | None] = {}
        self.stats = FastPathStats() if stats is None else stats
        self._handed = 0  # records handed back so far (the per-batch arithmetic of stats.fast)

    def clear(self) -> None:
        self._entries.clear()

    # ---- entries ------------------------------------------------------------------------

    def _entry(self, attrs: Any) -> tuple[Entry | None, dict[str, Any]]:
        """The entry and the user's attributes of one record's ``messageAttributes``."""
        t = attrs[ATTR_TYPE]
        v = attrs[ATTR_VERSION]
        p = attrs.get(ATTR_PRODUCER)
        rb = attrs.get(ATTR_READABLE_BY)
        ct = attrs.get(ATTR_CONTENT_TYPE)
        # Everything the stamp is read from (an optional attribute present with null values
        # keys apart from an absent one): equal keys give equal stamps.
        key = (
            t["stringValue"],
            t["dataType"],
            v["stringValue"],
            v["dataType"],
            None if p is None else (p["stringValue"], p["dataType"]),
            None if rb is None else (rb["stringValue"], rb["dataType"]),
            None if ct is None else (ct["stringValue"], ct["dataType"]),
        )
        try:
            entry = self._entries[key]
        except KeyError:
            entry = self._make_entry(key, attrs)
        if entry is None:
            return None, {}
        return entry, {} if len(attrs) == entry.n_stamp_attrs else plain_attributes(attrs)

    def _make_entry(self, key: tuple[Any, ...], attrs: Any) -> Entry | None:
        try:
            stamp = Stamp.from_message_attributes(attrs)
        except VersionedMsgsError:
            stamp = None
        entry = make_entry(stamp, self._plan_for, SQS)
        if entry is not None:
            entry.n_stamp_attrs = 2 + sum(1 for k in _OPTIONAL_ATTRS if k in attrs)
        if len(self._entries) >= ENTRIES_MAX:
            self._entries.clear()
        self._entries[key] = entry
        return entry

    def _load(self, attrs: Any) -> Loaded:
        try:
            entry, user = self._entry(attrs)
        except (KeyError, TypeError, AttributeError):
            entry = None  # no stamp attributes, or not in Lambda's shape: hand them back
        if entry is None:
            return NOTHING_LOADED
        copy_user = user.copy if user else dict
        return (entry.decode, entry.handler, entry.template, copy_user, entry.outcome)

    # ---- hand-backs ---------------------------------------------------------------------

    def _hand_back(
        self,
        rec: Any,
        exc: BaseException,
        stopped: set[str],
        fifo: bool,
        items: list[Any],
        results: list[RecordResult],
        deadline: float,
    ) -> None:
        """Count why ``rec`` leaves the fast path, then run it through the reference path and
        add its results to the batch's ``items`` and ``results``."""
        if isinstance(exc, HandBack) and exc.args:
            reason = exc.args[0]
        elif not _shape_ok(rec):
            reason = "record shape"
        elif fifo and (rec["attributes"].get(_GROUP, "") in stopped or _EVERY in stopped):
            reason = "stopped group"
        elif not _compact_object(rec["body"]):
            reason = "body"
        elif isinstance(exc, ValueError | msgspec.DecodeError | RecursionError):
            # (pydantic's ValidationError is a ValueError, and the upgrading decoder wraps
            # an upgrader's own exception in one)
            reason = "decode"
        else:
            reason = "unexpected"
        self.stats.handed_back[reason] += 1
        self._handed += 1
        done = self._reference(rec, stopped, fifo, deadline)
        items += done
        results += done

    # ---- batches ------------------------------------------------------------------------

    def process(self, raw: list[Any], deadline: float = math.inf) -> Processed:
        """Every record's result (see the module docstring).

        Returns the items of a compact :class:`~.report.Report` (the Meta alone for a record
        the fast path handled, a RecordResult for any other), their outcome runs, and the
        RecordResults alone (the only ones that can have failed).
        """
        uniform = self._uniform_batch(raw, deadline)
        if uniform is not None:
            return uniform
        now = clock.monotonic
        timed = deadline != math.inf  # (no context: skip the clock)
        items: list[Any] = []
        append = items.append
        runs: list[tuple[int, Outcome]] = []
        results: list[RecordResult] = []
        fifo = bool(raw) and is_fifo_record(raw[0])
        stopped: set[str] = set()
        replace = msgspec.structs.replace
        seen: Any = _NO_SNAPSHOT  # a snapshot of the last distinct attributes loaded
        loaded = NOTHING_LOADED
        decode, handler, template, copy_user, _ = loaded
        outcome: Outcome | None = None
        handed_before = self._handed
        # A snapshot costs about two comparisons: when records keep differing (mixed
        # versions, a per-message attribute) only every other differing record takes one,
        # and none once eight loads in a row found no snapshot to reuse (every record's
        # attributes its own, a trace id, say).
        snapshot = True
        misses = 0
        # Snapshots by the record's md5OfMessageAttributes, so interleaved versions find
        # theirs without loading again. The digest only picks the snapshot to compare with:
        # a record is taken for it after the full comparison alone, so a made-up or stale
        # digest costs a comparison, never a borrowed stamp.
        by_digest: dict[str | None, tuple[Any, Loaded]] = {}
        for rec in raw:
            try:
                if timed and now() >= deadline:
                    raise HandBack("deadline")
                attrs = rec["messageAttributes"]
                if attrs != seen:  # in full: stamp and user attributes alike
                    digest = rec.get(_DIGEST)
                    if type(digest) is not str:
                        digest = None
                    known = by_digest.get(digest) if misses < 8 else None
                    if known is not None and attrs == known[0]:
                        seen, state = known
                        misses = 0
                    else:
                        seen = _NO_SNAPSHOT
                        state = self._load(attrs)
                        misses += 1
                        if snapshot and misses < 8:
                            # (each attribute copied as the mapping it is: dict() would
                            # also take a list of pairs, whose snapshot then equals a
                            # mapping of those pairs read otherwise)
                            try:
                                seen = {k: {**a} for k, a in attrs.items()}
                            except TypeError:  # not all mappings: no snapshot
                                seen = _NO_SNAPSHOT
                            if digest is not None and seen is not _NO_SNAPSHOT:
                                by_digest[digest] = (seen, state)
                        snapshot = not snapshot
                    if state is not loaded:
                        loaded = state
                        decode, handler, template, copy_user, out = state
                        if out is not None and out is not outcome:
                            outcome = out
                            runs.append((len(items), out))
                body = rec["body"]
                mid = rec["messageId"]
                system = rec["attributes"]
                # (not .get: a method call costs more than the usual miss)
                gid = system[_GROUP] if _GROUP in system else None  # noqa: SIM401
                # Two string comparisons test the body (bytes raise a TypeError).
                if (
                    type(mid) is not str
                    or not ('{"' <= body < '{"vmsg"' or '{"vmsg#' <= body < "{#")
                    or (gid is not None and type(gid) is not str)
                    or (fifo and stopped and ((gid or "") in stopped or _EVERY in stopped))
                ):
                    raise HandBack
                msg = decode(body)
            except Exception as exc:
                self._hand_back(rec, exc, stopped, fifo, items, results, deadline)
                continue
            meta = replace(
                template, message_id=mid, attributes=copy_user(), group_id=gid, record=rec
            )
            try:
                handler(msg, meta)
            except Exception as exc:
                result = RecordResult("failed", mid, meta, exc)
                append(result)
                results.append(result)
                if fifo:
                    stopped.add(gid or "")
                continue
            append(meta)
        # every record the fast path did not hand back reached its handler
        self.stats.fast += len(raw) - (self._handed - handed_before)
        return items, runs, results

    def _uniform_batch(self, raw: list[Any], deadline: float) -> Processed | None:
        """A batch checked as a whole: every record's attributes equal to the first
        record's (or the same stamp attributes and user attribute names, the user's values
        then read from each record), string message ids and message groups (when present),
        and compact-JSON object bodies. Returns what :meth:`process` returns, or None
        (nothing processed) for any other batch. A FIFO queue's groups stop at their first
        failure as in the per-record loop.

        The checks are C-level passes over the batch, which leaves the per-record loop with
        the decode, the Meta and the handler call.
        """
        n = len(raw)
        if n < 2:
            return None
        fifo = is_fifo_record(raw[0])
        try:
            first = raw[0]["messageAttributes"]
            users: list[dict[str, Any]] | None = None
            attrs = list(map(_GET_ATTRS, raw))
            if attrs != [first] * n:
                # Not all equal. When neighbours differ too (a per-message attribute such as
                # a trace id), the same stamp attributes and the same names will do: the
                # user's values are then read from each record. A lone odd record is left
                # to the per-record loop.
                if n < 3 or attrs[1] == attrs[2]:
                    return None
                users = _own_users(attrs, first, n)
                if users is None:
                    return None
            systems = list(map(_GET_SYSTEM, raw))
            gids: Iterable[str | None]
            try:  # every record in a message group (a FIFO queue's batch)
                groups: list[str] = list(map(_GET_GROUP_ID, systems))
                "".join(groups)  # a TypeError unless all are str
                gids = groups
            except KeyError:
                gids = _repeat(None, n)  # (no record has a message group)
                if any(map(_contains, systems, _repeat(_GROUP, n))):
                    gids = list(map(_GET_GROUP, systems))
                    "".join([g for g in gids if g is not None])  # a TypeError unless all are str
            mids = list(map(_GET_MID, raw))
            "".join(mids)  # a TypeError unless every message id is a str
            bodies = list(map(_GET_BODY, raw))
            entry, user = self._entry(first)
            if entry is None:
                return None
            # Every body a str starting '{"' but not '{"vmsg"', when the smallest and the
            # largest lie on the same side of '{"vmsg"' (or else the per-record loop decides);
            # anything but str raises a TypeError here. Not needed when the decoder itself
            # fails on an envelope (that record is then handed back).
            if not entry.rejects_envelope:
                lo = min(bodies)
                hi = max(bodies)
                if not ('{"' <= lo <= hi < '{"vmsg"' or '{"vmsg#' <= lo <= hi < "{#"):
                    return None
        except Exception:  # a record of another shape: the per-record loop sorts it out
            return None
        decode, handler, template = entry.decode, entry.handler, entry.template
        replace = msgspec.structs.replace
        items: list[Any] = []
        append = items.append
        results: list[RecordResult] = []
        if users is None:
            # Each record's own copy of the user's attributes (handlers may change theirs),
            # all made in one C-level pass: cheaper than one copy per turn of the loop below.
            users = list(map(dict.copy, _repeat(user, n)))
        handed_before = self._handed
        stopped: set[str] = set()  # the FIFO groups that failed
        now = clock.monotonic
        timed = deadline != math.inf  # (no context: skip the clock)
        for rec, body, mid, attributes, gid in zip(raw, bodies, mids, users, gids, strict=True):
            try:
                if timed and now() >= deadline:
                    raise HandBack("deadline")
                if stopped and ((gid or "") in stopped or _EVERY in stopped):
                    raise HandBack
                msg = decode(body)
            except Exception as exc:
                self._hand_back(rec, exc, stopped, fifo, items, results, deadline)
                continue
            meta = replace(
                template, message_id=mid, attributes=attributes, group_id=gid, record=rec
            )
            try:
                handler(msg, meta)
            except Exception as exc:
                result = RecordResult("failed", mid, meta, exc)
                append(result)
                results.append(result)
                if fifo:
                    stopped.add(gid or "")
                continue
            append(meta)
        # every record the fast path did not hand back reached its handler
        self.stats.fast += len(raw) - (self._handed - handed_before)
        return items, [(0, entry.outcome)], results
