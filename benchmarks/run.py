"""versioned_msgs benchmarks: every figure as a ratio to a baseline timed in the same run.

Run with ``make bench`` (or ``python benchmarks/run.py``). Prints one table and exits 1 when a
target is missed. ``--smoke`` runs tiny sizes and never fails on a target (used by the test
suite to prove the harness runs; its ratios mean nothing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import orders
import timing
from timing import paired

import versioned_msgs as vm

Event = dict[str, Any]


@dataclass(frozen=True)
class Row:
    figure: str
    baseline: str
    measured: str  # candidate vs baseline, in units that suit the figure
    ratio: float | None
    target: str  # "<= 1.25", ">= 6" or "" (informational)
    met: bool | None  # None: informational or not measurable here
    note: str = ""


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


def make_consumer(registry: vm.Registry, model: type[Any]) -> Callable[[Event], Any]:
    """``vm.Consumer`` with a no-op handler for ``model``; returns a function of an event."""
    consumer = vm.Consumer(registry)

    @consumer.handler(model)
    def handle(msg: Any, meta: vm.Meta) -> None:
        pass

    def run(event: Event) -> vm.Report:
        return consumer.process(event, None)

    run.consumer = consumer  # type: ignore[attr-defined]  # verify() reads its fast-path counts
    return run


def verify(consume: Callable[[Event], Any], event: Event) -> None:
    """Fail loudly unless every record reached the handler as the current model (no fast
    failures, nothing skipped) and the SQS fast path finished every record: a figure must
    never come from an error path or a silent hand-back."""
    owner = getattr(consume, "consumer", None)
    stats = owner._fast_stats if owner is not None else None
    before = stats.fast if stats is not None else 0
    report = consume(event)
    if stats is not None and (stats.handed_back or stats.fast - before != len(event["Records"])):
        raise SystemExit(f"the SQS fast path did not finish every record: {stats}")
    outcomes = {r.outcome for r in report.records}
    versions = {r.meta.model_version for r in report.records if r.meta is not None}
    failures = report.response.get("batchItemFailures") if report.response else None
    if failures or not outcomes <= {"handled", "upgraded"} or versions != {orders.CURRENT}:
        raise SystemExit(f"benchmark consumer did not handle every record: {outcomes} {failures}")
    if len(report.records) != len(event["Records"]):
        raise SystemExit("benchmark consumer skipped records")


def floor(model: type[Any]) -> Callable[[Event], None]:
    """The floor: a bare ``msgspec.json.decode`` loop over the same records."""
    decode = msgspec.json.decode

    def run(event: Event) -> None:
        for record in event["Records"]:
            decode(record["body"], type=model)

    return run


def floor_mixed(models: list[type[Any]]) -> Callable[[Event], None]:
    """The floor for a mixed batch: each body decoded into its own version's model."""
    decode = msgspec.json.decode

    def run(event: Event) -> None:
        for record, model in zip(event["Records"], models, strict=True):
            decode(record["body"], type=model)

    return run


def bare_pydantic(model: Any) -> Callable[[Event], None]:
    validate = model.model_validate_json

    def run(event: Event) -> None:
        for record in event["Records"]:
            validate(record["body"])

    return run


def powertools(model: Any, probe: Event) -> Callable[[Event], Any] | None:
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


# ---- figures ----------------------------------------------------------------------------


def consumer_rows(args: argparse.Namespace) -> list[Row]:
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
    pcurrent = orders.sqs_event(preg, n, [4])
    ours = make_consumer(reg, orders.Order)
    typed = make_consumer(typed_reg, orders.Order)
    ours_p = make_consumer(preg, pmodels[4])
    for consume, event in (
        (ours, current),
        (ours, no_digests),
        (ours, one),
        (ours, three),
        (ours, mixed),
        (typed, one),
        (typed, three),
    ):
        verify(consume, event)
    verify(ours_p, pcurrent)
    mixed_floor = floor_mixed([models[mix[i % len(mix)]] for i in range(n)])

    # (figure, baseline, candidate, its baseline, target)
    figures: list[tuple[str, str, Callable[[], object], Callable[[], object], str]] = [
        (
            "consumer, msgspec, current version",
            "floor: bare msgspec decode loop",
            lambda: ours(current),
            lambda: floor(orders.Order)(current),
            "<= 1.25",
        ),
        (
            "consumer, msgspec, no md5OfMessageAttributes",
            "floor: bare msgspec decode loop",
            lambda: ours(no_digests),
            lambda: floor(orders.Order)(no_digests),
            "",
        ),
        (
            "consumer, pydantic, current version",
            "bare model_validate_json loop",
            lambda: ours_p(pcurrent),
            lambda: bare_pydantic(pmodels[4])(pcurrent),
            "<= 1.10",
        ),
        (
            "consumer, one upgrade step (v3->v4)",
            "floor (v3 bodies into v3 model)",
            lambda: ours(one),
            lambda: floor(models[3])(one),
            "<= 2.00",
        ),
        (
            "consumer, three upgrade steps (v1->v4)",
            "floor (v1 bodies into v1 model)",
            lambda: ours(three),
            lambda: floor(models[1])(three),
            "",
        ),
        (
            "consumer, mixed v1-v4 batch (5/8 current)",
            "floor (each into own model)",
            lambda: ours(mixed),
            lambda: mixed_floor(mixed),
            "",
        ),
        (
            "consumer, one typed upgrade step (v3->v4)",
            "floor (current-version bodies)",
            lambda: typed(one),
            lambda: floor(orders.Order)(current),
            "<= 1.60",
        ),
        (
            "consumer, three typed upgrade steps (v1->v4)",
            "floor (current-version bodies)",
            lambda: typed(three),
            lambda: floor(orders.Order)(current),
            "",
        ),
    ]
    rows = []
    for figure, baseline, candidate, base, target in figures:
        p = paired(candidate, base, repeats=rep)
        rows.append(row(figure, baseline, _per_record(p, n), p.ratio, target))

    pt = powertools(pmodels[4], current)
    for label, consume, event, target in (
        ("msgspec", ours, current, ">= 6.00"),
        ("pydantic", ours_p, pcurrent, ">= 1.50"),
    ):
        figure = f"speed-up vs Powertools, {label} models"
        if pt is None:
            note = "aws-lambda-powertools not installed"
            rows.append(Row(figure, "BatchProcessor + parser", "-", None, target, None, note))
            continue
        p = paired(lambda c=consume, e=event: c(e), lambda: pt(current), repeats=rep)
        rows.append(row(figure, "BatchProcessor + parser", _per_record(p, n), 1 / p.ratio, target))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000, help="records per SQS event")
    parser.add_argument("--encode", type=int, default=10_000, help="messages to encode")
    parser.add_argument("--repeats", type=int, default=31, help="interleaved pairs per figure")
    parser.add_argument("--import-runs", type=int, default=15, help="fresh interpreters each")
    parser.add_argument("--memory-mb", type=float, default=6.0, help="event size, MiB")
    parser.add_argument(
        "--only",
        default="consumer,encode,import,memory",
        help="comma-separated groups to run (default: all)",
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
        "encode": encode_rows,
        "import": import_rows,
        "memory": memory_rows,
    }
    rows = [r for name in args.only.split(",") for r in groups[name.strip()](args)]
    print(table(rows))
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
