"""versioned_msgs benchmarks: every figure as a ratio to a baseline timed in the same run.

Run with ``make bench`` (or ``python benchmarks/run.py``). Prints one table and exits 1 when a
target is missed. ``--smoke`` runs tiny sizes and never fails on a target (used by the test
suite to prove the harness runs; its ratios mean nothing). ``--json PATH`` also writes the
rows to a JSON file (``benchmarks/plot.py`` draws ``docs/img/performance.png`` from it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import floors
import msgspec
import orders
import sources
import timing
from timing import paired

import versioned_msgs as vm

Event = dict[str, Any]

#: The note of a row whose source has no fast path yet: its records took the general path.
GENERAL_PATH = "general path (no fast path)"


@dataclass(frozen=True)
class Row:
    figure: str
    baseline: str
    measured: str  # candidate vs baseline, in units that suit the figure
    ratio: float | None
    target: str  # "<= 1.25", ">= 6" or "" (informational)
    met: bool | None  # None: informational or not measurable here
    note: str = ""
    # for the plot (benchmarks/plot.py): microseconds per record of each side, the bar
    # group (a source and model kind) and what the baseline is ("floor" or "Powertools")
    ours_us: float | None = None
    base_us: float | None = None
    group: str = ""
    versus: str = ""


def _check(ratio: float, target: str) -> bool:
    op, _, bound = target.partition(" ")
    return ratio <= float(bound) if op == "<=" else ratio >= float(bound)


def row(
    figure: str, baseline: str, measured: str, ratio: float, target: str = "", note: str = ""
) -> Row:
    return Row(
        figure, baseline, measured, ratio, target, _check(ratio, target) if target else None, note
    )


def _us(ns: float, per: int) -> str:
    return f"{ns / per / 1000:.2f}"


# ---- consumers --------------------------------------------------------------------------


def make_consumer(registry: vm.Registry, model: type[Any], **options: Any) -> Any:
    """``vm.Consumer(registry, **options)`` with a no-op handler for ``model``; returns a
    function of an event, with ``.consumer`` (its fast-path counts are read by
    :func:`verify`) and ``.rebuild(handler)``: the same consumer with another handler."""

    def build(fn: Callable[[Any, vm.Meta], None]) -> vm.Consumer:
        consumer = vm.Consumer(registry, **options)
        consumer.handler(model)(fn)
        return consumer

    consumer = build(lambda msg, meta: None)

    def run(event: Event) -> vm.Report:
        return consumer.process(event, None)

    run.consumer = consumer  # type: ignore[attr-defined]
    run.rebuild = build  # type: ignore[attr-defined]
    return run


def _bare_meta(meta: vm.Meta) -> vm.Meta:
    return msgspec.structs.replace(meta, record=None)


def verify(
    consume: Any,
    event: Any,
    *,
    expected: list[Any] | None = None,
    invocations: bool = False,
) -> str:
    """Check ``consume`` on ``event`` (with ``invocations``: a list of events, one Lambda
    invocation each) before it is timed, and return the row's note ("" when all is well).

    Exits (SystemExit) when any record was not handled as the current model (a failure, a
    rejection, a skipped record, another version), so that no figure can come from an error
    path; when a consumer with a capturing handler gives any record another message or
    ``Meta`` than the reference path gives it (``Consumer._process(event, fast=False)``); or
    when the messages differ from ``expected`` (what was published). Returns a note, which
    marks the row missed, when the fast paths did not finish every record themselves
    (``consumer._fast_stats``): :data:`GENERAL_PATH` when they finished none (the source has
    no fast path yet), else how many they finished and why the rest were handed back.
    """
    events = list(event) if invocations else [event]
    stats = consume.consumer._fast_stats
    before, back_before = stats.fast, Counter(stats.handed_back)
    results = [r for e in events for r in consume(e).records]
    fast = stats.fast - before
    back = Counter(stats.handed_back)
    back.subtract(back_before)
    back = +back
    outcomes = Counter(r.outcome for r in results)
    versions = {r.meta.model_version for r in results if r.meta is not None}
    if not set(outcomes) <= {"handled", "upgraded"} or versions != {orders.CURRENT}:
        errors = {str(r.error)[:200] for r in results if r.error is not None}
        raise SystemExit(
            f"benchmark consumer did not handle every record: {dict(outcomes)} {sorted(errors)[:3]}"
        )
    count = len(expected) if expected is not None else sum(len(e["Records"]) for e in events)
    if len(results) != count:
        raise SystemExit(f"benchmark consumer gave {len(results)} results for {count} records")

    fast_seen: list[tuple[Any, vm.Meta]] = []
    ref_seen: list[tuple[Any, vm.Meta]] = []
    fast_consumer = consume.rebuild(lambda m, meta: fast_seen.append((m, _bare_meta(meta))))
    ref_consumer = consume.rebuild(lambda m, meta: ref_seen.append((m, _bare_meta(meta))))
    for e in events:
        fast_consumer.process(e, None)
        ref_consumer._process(e, fast=False)
    if fast_seen != ref_seen:
        diff = (
            next(i for i, (a, b) in enumerate(zip(fast_seen, ref_seen, strict=False)) if a != b)
            if len(fast_seen) == len(ref_seen)
            else "count"
        )
        raise SystemExit(f"process() and the reference path disagree (record {diff})")
    if expected is not None and [m for m, _ in fast_seen] != expected:
        raise SystemExit("the consumer's messages differ from the published ones")

    if fast == count and not back:
        return ""
    if fast == 0:
        return GENERAL_PATH
    shown = ", ".join(f"{k} {v}" for k, v in back.most_common())
    return f"fast path finished {fast}/{count}; handed back: {shown}"


def powertools_sqs(model: Any, probe: Event) -> Callable[[Event], Any] | None:
    """Powertools' ``BatchProcessor`` with its pydantic parser, or None when not installed.

    ``probe`` is processed once to check that every record reaches the handler.
    """
    try:
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            process_partial_response,
        )
        from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
    except ImportError:
        return None
    from pydantic import Json

    class OrderRecord(SqsRecordModel):
        body: Json[model]  # type: ignore[valid-type]

    processor = BatchProcessor(event_type=EventType.SQS, model=OrderRecord)
    seen: list[int] = [0]

    def record_handler(record: OrderRecord) -> None:
        seen[0] += 1

    def run(event: Event) -> Any:
        return process_partial_response(event, record_handler, processor, None)

    if run(probe)["batchItemFailures"] or seen[0] != len(probe["Records"]):
        raise SystemExit("the Powertools baseline did not handle every record")
    return run


def powertools_sns_sqs(model: Any, probe: Event) -> Callable[[Event], Any] | None:
    """Powertools' parser on an SNS → SQS event, as its documentation shows it:
    ``parse(event=event, model=model, envelope=envelopes.SnsSqsEnvelope)`` (the SQS model,
    then each body as an ``SnsNotificationModel``, then each ``Message`` into ``model``),
    and a no-op handler called with each message. None when Powertools is not installed.

    ``probe`` is processed once to check that every record arrives as ``model``.
    """
    try:
        from aws_lambda_powertools.utilities.parser import envelopes, parse
    except ImportError:
        return None
    envelope = envelopes.SnsSqsEnvelope

    def handle(msg: Any) -> None:
        pass

    def run(event: Event) -> None:
        for msg in parse(event=event, model=model, envelope=envelope):
            handle(msg)

    parsed = parse(event=probe, model=model, envelope=envelope)
    if len(parsed) != len(probe["Records"]) or not all(isinstance(m, model) for m in parsed):
        raise SystemExit("the Powertools SNS -> SQS baseline did not parse every record")
    return run


# ---- figures ----------------------------------------------------------------------------


@dataclass
class Figure:
    """One consumer figure before it is timed."""

    figure: str
    baseline: str
    candidate: Callable[[], object]
    base: Callable[[], object]
    target: str
    records: int
    note: str = ""  # from verify(): a note marks the row missed
    group: str = ""  # the plot's bar group; "" keeps the row out of the plot
    versus: str = "floor"
    speedup: bool = False  # the ratio shown is baseline / candidate


def _measure(fig: Figure, repeats: int) -> Row:
    p = paired(fig.candidate, fig.base, repeats=repeats)
    n = fig.records
    ratio = 1 / p.ratio if fig.speedup else p.ratio
    r = row(fig.figure, fig.baseline, _per_record(p, n), ratio, fig.target)
    if fig.note:
        r = dataclasses.replace(r, met=False, note=fig.note)
    return dataclasses.replace(
        r,
        ours_us=p.candidate_ns / n / 1000,
        base_us=p.baseline_ns / n / 1000,
        group=fig.group,
        versus=fig.versus,
    )


def _not_installed(figure: str, baseline: str, target: str) -> Row:
    return Row(figure, baseline, "-", None, target, None, "aws-lambda-powertools not installed")


def consumer_rows(args: argparse.Namespace) -> list[Row]:
    """Raw SQS: the consumer against the floor, with msgspec and pydantic models, every
    upgrade form, FIFO queues, events without digests, and Powertools."""
    n, rep = args.records, args.repeats
    models = orders.MSGSPEC_MODELS
    pmodels = orders.pydantic_models()
    reg = orders.make_registry(models)
    typed_reg = orders.make_registry(models, typed=True)
    preg = orders.make_registry(pmodels)
    mix = [4, 4, 3, 4, 2, 4, 1, 3]
    current = orders.sqs_event(reg, n, [4])
    one = orders.sqs_event(reg, n, [3])
    three = orders.sqs_event(reg, n, [1])
    mixed = orders.sqs_event(reg, n, mix)
    no_digests = orders.sqs_event(reg, n, [4], digests=False)
    fifo = orders.sqs_event(reg, n, [4], fifo_groups=10, trace_ids=True)
    pcurrent = orders.sqs_event(preg, n, [4])
    # The same number of records in Lambda's default batch size (10): what one invocation
    # costs besides its records shows here.
    tens = [orders.sqs_event(reg, 10, [4], seed=i) for i in range(max(1, n // 10))]
    ours = make_consumer(reg, orders.Order)
    typed = make_consumer(typed_reg, orders.Order)
    ours_p = make_consumer(preg, pmodels[4])
    notes = {
        name: verify(consume, event)
        for name, consume, event in (
            ("current", ours, current),
            ("no digests", ours, no_digests),
            ("fifo", ours, fifo),
            ("one", ours, one),
            ("three", ours, three),
            ("mixed", ours, mixed),
            ("typed one", typed, one),
            ("typed three", typed, three),
            ("pydantic", ours_p, pcurrent),
        )
    }
    notes["tens"] = verify(ours, tens, invocations=True)
    floor = floors.sqs(orders.Order)
    mixed_floor = floors.sqs_each([models[mix[i % len(mix)]] for i in range(n)])
    dict_pipeline = floors.sqs_dict_upgrade(orders.Order, orders._up_3)
    decode_floor = "floor: bare msgspec decode loop"
    figures = [
        Figure(
            "SQS, msgspec, current version",
            decode_floor,
            lambda: ours(current),
            lambda: floor(current),
            "<= 1.30",
            n,
            notes["current"],
            group="SQS, msgspec",
        ),
        Figure(
            f"SQS, msgspec, {len(tens)} invocations of 10 records",
            decode_floor,
            lambda: [ours(e) for e in tens],
            lambda: [floor(e) for e in tens],
            "",
            10 * len(tens),
            notes["tens"],
            group="SQS, 10-record batches",
        ),
        Figure(
            "SQS, msgspec, no md5OfMessageAttributes",
            decode_floor,
            lambda: ours(no_digests),
            lambda: floor(no_digests),
            "<= 1.35",
            n,
            notes["no digests"],
            group="SQS without digests",
        ),
        Figure(
            "SQS FIFO, msgspec, per-message attribute",
            decode_floor,
            lambda: ours(fifo),
            lambda: floor(fifo),
            "<= 1.40",
            n,
            notes["fifo"],
            group="SQS FIFO, per-message attr.",
        ),
        Figure(
            "SQS, pydantic, current version",
            "bare model_validate_json loop",
            lambda: ours_p(pcurrent),
            lambda: floors.sqs_pydantic(pmodels[4])(pcurrent),
            "<= 1.10",
            n,
            notes["pydantic"],
            group="SQS, pydantic",
        ),
        Figure(
            "SQS, one upgrade step (v3->v4)",
            "floor (v3 bodies into v3 model)",
            lambda: ours(one),
            lambda: floors.sqs(models[3])(one),
            "<= 2.00",
            n,
            notes["one"],
        ),
        Figure(
            "SQS, one dict upgrade step (v3->v4)",
            "decode + upgrader + convert loop",
            lambda: ours(one),
            lambda: dict_pipeline(one),
            "<= 1.15",
            n,
            notes["one"],
            group="SQS, one dict upgrade step",
        ),
        Figure(
            "SQS, three upgrade steps (v1->v4)",
            "floor (v1 bodies into v1 model)",
            lambda: ours(three),
            lambda: floors.sqs(models[1])(three),
            "",
            n,
            notes["three"],
        ),
        Figure(
            "SQS, mixed v1-v4 batch (5/8 current)",
            "floor (each into own model)",
            lambda: ours(mixed),
            lambda: mixed_floor(mixed),
            "",
            n,
            notes["mixed"],
        ),
        Figure(
            "SQS, one typed upgrade step (v3->v4)",
            "floor (current-version bodies)",
            lambda: typed(one),
            lambda: floor(current),
            "<= 1.60",
            n,
            notes["typed one"],
        ),
        Figure(
            "SQS, three typed upgrade steps (v1->v4)",
            "floor (current-version bodies)",
            lambda: typed(three),
            lambda: floor(current),
            "",
            n,
            notes["typed three"],
        ),
    ]
    rows = [_measure(fig, rep) for fig in figures]

    pt = powertools_sqs(pmodels[4], current)
    cases = [
        ("msgspec", ours, current, ">= 6.00", notes["current"]),
        ("pydantic", ours_p, pcurrent, ">= 1.50", notes["pydantic"]),
    ]
    rows += _powertools_rows("SQS", "BatchProcessor + parser", pt, current, cases, n, rep)
    return rows


def source_rows(args: argparse.Namespace) -> list[Row]:
    """Every other source, each against its own floor (benchmarks/floors.py), and Powertools
    on the SNS → SQS event."""
    n, rep = args.records, args.repeats
    pmodels = orders.pydantic_models()
    reg = orders.make_registry(orders.MSGSPEC_MODELS)
    preg = orders.make_registry(pmodels)
    model, pmodel = orders.Order, pmodels[4]
    msgs = sources.orders_at(reg, n)
    pmsgs = sources.orders_at(preg, n)
    s3 = sources.MemoryS3()
    events = {
        "sns": sources.sns_sqs_event(reg, msgs),
        "sns pydantic": sources.sns_sqs_event(preg, pmsgs),
        "sns raw": sources.sns_sqs_event(reg, msgs, raw_delivery=True),
        "kinesis": sources.kinesis_event(reg, msgs),
        "eventbridge sqs": sources.eventbridge_sqs_event(reg, msgs),
        "s3": sources.s3_sqs_event(reg, msgs, s3),
    }
    eb_lambda = sources.eventbridge_lambda_events(reg, msgs)
    ours = make_consumer(reg, model)
    ours_p = make_consumer(preg, pmodel)
    ours_s3 = make_consumer(reg, model, s3=s3)
    notes = {
        name: verify(
            ours_p if name == "sns pydantic" else ours_s3 if name == "s3" else ours,
            event,
            expected=pmsgs if name == "sns pydantic" else msgs,
        )
        for name, event in events.items()
    }
    notes["eventbridge lambda"] = verify(ours, eb_lambda, expected=msgs, invocations=True)

    def invocations(consume: Callable[[Event], Any], evs: list[Event]) -> Callable[[], None]:
        def run() -> None:
            for e in evs:
                consume(e)

        return run

    def fig(
        figure: str,
        baseline: str,
        consume: Callable[[Event], Any],
        floor: Callable[[Any], None],
        name: str,
        target: str,
        group: str,
    ) -> Figure:
        event = events[name]
        return Figure(
            figure,
            baseline,
            lambda: consume(event),
            lambda: floor(event),
            target,
            n,
            notes[name],
            group=group,
        )

    figures = [
        fig(
            "SNS->SQS, msgspec",
            "floor: envelope Struct, then Message",
            ours,
            floors.sns_sqs(model),
            "sns",
            "<= 1.30",
            "SNS -> SQS, msgspec",
        ),
        fig(
            "SNS->SQS, pydantic",
            "envelope Struct, model_validate_json",
            ours_p,
            floors.sns_sqs_pydantic(pmodel),
            "sns pydantic",
            "<= 1.10",
            "SNS -> SQS, pydantic",
        ),
        fig(
            "SNS->SQS raw delivery, msgspec",
            "floor: bare msgspec decode loop",
            ours,
            floors.sqs(model),
            "sns raw",
            "<= 1.25",
            "SNS -> SQS raw delivery",
        ),
        fig(
            "Kinesis, msgspec",
            "floor: b64decode, envelope Struct",
            ours,
            floors.kinesis(model),
            "kinesis",
            "<= 1.30",
            "Kinesis",
        ),
        fig(
            "EventBridge->SQS, msgspec",
            "floor: event Struct with detail",
            ours,
            floors.eventbridge_sqs(model),
            "eventbridge sqs",
            "<= 1.30",
            "EventBridge -> SQS",
        ),
        Figure(
            f"EventBridge->Lambda, msgspec ({n} invocations)",
            "floor: convert(detail.data)",
            invocations(ours, eb_lambda),
            lambda: floors.eventbridge_lambda(model)(eb_lambda),
            "<= 1.30",
            n,
            notes["eventbridge lambda"],
            group="EventBridge -> Lambda",
        ),
        fig(
            "S3 notification via SQS, msgspec",
            "floor: key Struct, get_object, decode",
            ours_s3,
            floors.s3_sqs(model, s3),
            "s3",
            "<= 1.50",
            "S3 notification via SQS",
        ),
    ]
    rows = [_measure(f, rep) for f in figures]

    sns = events["sns"]
    pt = powertools_sns_sqs(pmodel, sns)
    cases = [
        ("msgspec", ours, sns, ">= 6.00", notes["sns"]),
        ("pydantic", ours_p, events["sns pydantic"], "", notes["sns pydantic"]),
    ]
    rows += _powertools_rows("SNS->SQS", "parse(..., SnsSqsEnvelope)", pt, sns, cases, n, rep)
    return rows


def _powertools_rows(
    source: str,
    baseline: str,
    pt: Callable[[Event], Any] | None,
    pt_event: Event,
    cases: list[tuple[str, Callable[[Event], Any], Event, str, str]],
    n: int,
    rep: int,
) -> list[Row]:
    """The speed-up rows over Powertools on one source's event: one per model kind
    (``cases``: label, our consumer, its event, target, note); ``pt`` is None when
    Powertools is not installed."""
    rows: list[Row] = []
    group_source = source.replace("->", " -> ")
    for label, consume, event, target, note in cases:
        figure = f"speed-up vs Powertools, {source}, {label}"
        if pt is None:
            rows.append(_not_installed(figure, baseline, target))
            continue
        fig = Figure(
            figure,
            baseline,
            lambda c=consume, e=event: c(e),
            lambda: pt(pt_event),
            target,
            n,
            note,
            group=f"{group_source}, {label}",
            versus="Powertools",
            speedup=True,
        )
        rows.append(_measure(fig, rep))
    return rows


def _per_record(p: timing.Paired, n: int) -> str:
    return f"{_us(p.candidate_ns, n)} vs {_us(p.baseline_ns, n)} us/rec"


def encode_rows(args: argparse.Namespace) -> list[Row]:
    n = args.encode
    reg = orders.make_registry(orders.MSGSPEC_MODELS)
    typed_reg = orders.make_registry(orders.MSGSPEC_MODELS, typed=True)
    event = orders.sqs_event(reg, min(n, 1000), [4])
    bodies = [r["body"] for r in event["Records"]]
    msgs = [msgspec.json.decode(bodies[i % len(bodies)], type=orders.Order) for i in range(n)]
    bare = msgspec.json.encode

    def ours(registry: vm.Registry, as_version: int | None) -> Callable[[], None]:
        encode = registry.encode

        def run() -> None:
            for msg in msgs:
                encoded = encode(msg, as_version)
                encoded.stamp.to_message_attributes()

        return run

    def baseline() -> None:
        for msg in msgs:
            bare(msg)
            _ = {
                "vmsg-type": {"DataType": "String", "StringValue": "order.created"},
                "vmsg-version": {"DataType": "Number", "StringValue": "4"},
            }

    # (figure, candidate, target): pinned to v3, the downgrader runs for every message
    figures = [
        (f"encode + stamp, {n:,} messages", ours(reg, None), "<= 1.30"),
        (f"encode as v3, typed downgrader, {n:,} msgs", ours(typed_reg, 3), ""),
        (f"encode as v3, dict downgrader, {n:,} msgs", ours(reg, 3), ""),
    ]
    if typed_reg.encode(msgs[0], 3).body != reg.encode(msgs[0], 3).body:
        raise SystemExit("the typed and the dict downgrader wrote different v3 bodies")
    rows = []
    for figure, candidate, target in figures:
        p = paired(candidate, baseline, repeats=args.repeats)
        rows.append(
            row(
                figure,
                "bare encode + hand-built attrs",
                f"{_us(p.candidate_ns, n)} vs {_us(p.baseline_ns, n)} us/msg",
                p.ratio,
                target,
            )
        )
    return rows


_IMPORT_PROBE = """
import sys, time
t = time.perf_counter_ns()
import {module}
t = time.perf_counter_ns() - t
print(t, " ".join(m for m in ("boto3", "botocore", "pydantic") if m in sys.modules))
"""


def _import_once(module: str) -> tuple[int, str]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", _IMPORT_PROBE.format(module=module)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split(maxsplit=1)
    return int(out[0]), (out[1].strip() if len(out) > 1 else "")


def import_rows(args: argparse.Namespace) -> list[Row]:
    _import_once("versioned_msgs")  # compile .pyc files before timing
    _import_once("msgspec")
    ours: list[int] = []
    base: list[int] = []
    loaded: set[str] = set()
    for i in range(args.import_runs):
        pair = ("versioned_msgs", "msgspec") if i % 2 else ("msgspec", "versioned_msgs")
        for module in pair:
            ns, extra = _import_once(module)
            if module == "msgspec":
                base.append(ns)
            else:
                ours.append(ns)
                loaded.update(extra.split())
    ratio = statistics.median(ours) / statistics.median(base)
    measured = (
        f"{statistics.median(ours) / 1e6:.1f} vs {statistics.median(base) / 1e6:.1f} ms "
        f"(median of {args.import_runs})"
    )
    r = row(
        "import versioned_msgs (fresh interpreter)", "import msgspec", measured, ratio, "<= 1.30"
    )
    if loaded:
        r = Row(
            r.figure,
            r.baseline,
            r.measured,
            r.ratio,
            r.target,
            False,
            f"loaded {', '.join(sorted(loaded))}",
        )
    return [r]


def memory_rows(args: argparse.Namespace) -> list[Row]:
    reg = orders.make_registry(orders.MSGSPEC_MODELS)
    limit = int(args.memory_mb * 1024 * 1024)
    sample = orders.sqs_event(reg, 50, [4])
    per_record = orders.event_size(sample) / 50
    event = orders.sqs_event(reg, max(1, int(limit / per_record * 0.999)), [4])
    size = orders.event_size(event)
    consume = make_consumer(reg, orders.Order)
    tracemalloc.start()
    try:
        report = consume(event)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del report
    return [
        row(
            f"peak memory, {size / 1e6:.1f} MB event ({len(event['Records'])} records)",
            "the event's size",
            f"{peak / 1e6:.2f} vs {size / 1e6:.2f} MB",
            peak / size,
            "<= 2.00",
        )
    ]


# ---- output -----------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ("figure", "baseline", "measured (ours vs baseline)", "ratio", "target", "met?")
    cells = [head]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        if r.note:
            met += f" ({r.note})"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        cells.append((r.figure, r.baseline, r.measured, ratio, r.target or "(info)", met))
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs ({cpu}), "
        f"msgspec {msgspec.__version__}, versioned_msgs {vm.__version__}"
    )


def write_json(path: str, rows: list[Row], clock: str, *, smoke: bool) -> None:
    """The run as JSON: when, where, how it was timed, and every row (``plot.py`` reads it)."""
    doc = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "clock": clock,
        "smoke": smoke,
        "rows": [dataclasses.asdict(r) for r in rows],
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000, help="records per SQS event")
    parser.add_argument("--encode", type=int, default=10_000, help="messages to encode")
    parser.add_argument("--repeats", type=int, default=31, help="interleaved pairs per figure")
    parser.add_argument("--import-runs", type=int, default=15, help="fresh interpreters each")
    parser.add_argument("--memory-mb", type=float, default=6.0, help="event size, MiB")
    parser.add_argument(
        "--only",
        default="consumer,sources,encode,import,memory",
        help="comma-separated groups to run (default: all)",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the rows, the machine and the date to PATH (read by plot.py)",
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with this thread's CPU time instead of the wall clock (loaded machines)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, never fail a target (proves the harness runs)",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.records, args.encode, args.repeats, args.import_runs, args.memory_mb = (
            20,
            50,
            3,
            1,
            0.05,
        )
    if args.cpu_time:
        timing.use_cpu_time()
    clock = "thread CPU time" if args.cpu_time else "wall clock"
    print(f"{machine()}; {clock}", flush=True)
    groups = {
        "consumer": consumer_rows,
        "sources": source_rows,
        "encode": encode_rows,
        "import": import_rows,
        "memory": memory_rows,
    }
    rows = [r for name in args.only.split(",") for r in groups[name.strip()](args)]
    print(table(rows))
    if args.json:
        write_json(args.json, rows, clock, smoke=args.smoke)
    missed = [r.figure for r in rows if r.met is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed: {'; '.join(missed)}")
        return 0 if args.smoke else 1
    print(
        "\nevery target met"
        + (" (smoke run: sizes too small to mean anything)" if args.smoke else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
