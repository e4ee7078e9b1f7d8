"""Timing that survives a shared machine: paired, interleaved runs and median ratios.

Absolute times on a shared or throttled machine drift by tens of percent from one second to
the next, but a candidate and its baseline timed back to back see the same machine. So every
sample is a (candidate, baseline) pair run adjacently, in alternating order, and the figure
is the ratio of each side's fastest sample (load only ever slows a sample down); the median
of the per-pair ratios is kept beside it as a check. The garbage collector is off during
timed loops, for both sides alike, and collected before each sample.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    """The result of timing a candidate against its baseline."""

    candidate_ns: float  # fastest time of one call of the candidate
    baseline_ns: float  # fastest time of one call of the baseline
    ratio: float  # candidate_ns / baseline_ns
    spread: float  # median of the per-pair ratios: far from ``ratio`` means a noisy machine


# Wall-clock time by default. ``use_cpu_time()`` switches to this thread's CPU time, which a
# machine loaded with other work cannot inflate by descheduling the benchmark.
_clock = time.perf_counter_ns


def use_cpu_time() -> None:
    """Time with ``time.thread_time_ns`` instead of ``time.perf_counter_ns``."""
    global _clock
    _clock = time.thread_time_ns


def _time(fn: Callable[[], object], inner: int) -> int:
    gc.collect()
    gc.disable()
    try:
        start = _clock()
        for _ in range(inner):
            fn()
        return _clock() - start
    finally:
        gc.enable()


def paired(
    candidate: Callable[[], object],
    baseline: Callable[[], object],
    *,
    repeats: int,
    inner: int = 1,
) -> Paired:
    """Time ``candidate`` against ``baseline``: ``repeats`` interleaved pairs of ``inner`` calls.

    The ratio is of the fastest samples: other load on the machine only ever slows a sample
    down, so the fastest one of each side is the best estimate of its own cost.
    """
    candidate()  # warm caches (decoders, stamps, chains) and the allocator on both sides
    baseline()
    cand: list[int] = []
    base: list[int] = []
    gc.collect()
    gc.freeze()  # the inputs stay alive throughout: keep them out of every collection
    try:
        for i in range(repeats):
            if i % 2:
                cand.append(_time(candidate, inner))
                base.append(_time(baseline, inner))
            else:
                base.append(_time(baseline, inner))
                cand.append(_time(candidate, inner))
    finally:
        gc.unfreeze()
    return Paired(
        candidate_ns=min(cand) / inner,
        baseline_ns=min(base) / inner,
        ratio=min(cand) / min(base),
        spread=statistics.median(c / b for c, b in zip(cand, base, strict=True)),
    )
