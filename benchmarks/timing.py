"""Timing that survives a shared machine: paired, interleaved runs and median ratios.

Absolute times on a shared or throttled machine drift by tens of percent from one second to
the next, but a candidate and its baseline timed back to back see the same machine. So every
sample is a (candidate, baseline) pair run adjacently, in alternating order, and the figure
is the median of the per-pair ratios. The garbage collector is off during timed loops, for
both sides alike, and collected before each pair.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns


@dataclass(frozen=True)
class Paired:
    """The result of timing a candidate against its baseline."""

    candidate_ns: float  # median time of one call of the candidate
    baseline_ns: float  # median time of one call of the baseline
    ratio: float  # median of per-pair candidate/baseline ratios


def _time(fn: Callable[[], object], inner: int) -> int:
    gc.collect()
    gc.disable()
    try:
        start = perf_counter_ns()
        for _ in range(inner):
            fn()
        return perf_counter_ns() - start
    finally:
        gc.enable()


def paired(
    candidate: Callable[[], object],
    baseline: Callable[[], object],
    *,
    repeats: int,
    inner: int = 1,
) -> Paired:
    """Time ``candidate`` against ``baseline``: ``repeats`` interleaved pairs of ``inner`` calls."""
    candidate()  # warm caches (decoders, stamps, chains) and the allocator on both sides
    baseline()
    cand: list[int] = []
    base: list[int] = []
    ratios: list[float] = []
    for i in range(repeats):
        if i % 2:
            c = _time(candidate, inner)
            b = _time(baseline, inner)
        else:
            b = _time(baseline, inner)
            c = _time(candidate, inner)
        cand.append(c)
        base.append(b)
        ratios.append(c / b)
    return Paired(
        candidate_ns=statistics.median(cand) / inner,
        baseline_ns=statistics.median(base) / inner,
        ratio=statistics.median(ratios),
    )
