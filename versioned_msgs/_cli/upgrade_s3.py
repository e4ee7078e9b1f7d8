"""``versioned-msgs upgrade-s3``: upgrade every object under a prefix, resumably, with a
progress bar. The work on one object is :func:`versioned_msgs._aws.backfill.upgrade_object`,
shared with the S3 Batch Operations handler."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._aws.backfill import DONE, ObjectResult, upgrade_object
from .._core.registry import Registry
from .console import Progress, table

__all__ = ["ObjectResult", "Summary", "upgrade_object", "upgrade_prefix"]

# ---- a whole prefix ---------------------------------------------------------------------


class Summary:
    """Counts and problems of an ``upgrade-s3`` run."""

    def __init__(self, bucket: str, prefix: str, *, dry_run: bool) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.dry_run = dry_run
        self.counts: Counter[tuple[str, str, str, str]] = Counter()
        self.problems: list[ObjectResult] = []
        self.last_key: str | None = None
        self.interrupted = False
        self.resumed_from: str | None = None

    def add(self, result: ObjectResult) -> None:
        self.counts[
            (
                result.type or "-",
                "-" if result.from_version is None else str(result.from_version),
                "-" if result.to_version is None else str(result.to_version),
                result.outcome,
            )
        ] += 1
        if result.outcome not in DONE:
            self.problems.append(result)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def complete(self) -> bool:
        """True when nothing was left undone (no conflict, failure or interruption)."""
        return not self.problems and not self.interrupted

    def render(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        lines = []
        if self.resumed_from:
            lines.append(f"resumed after {self.resumed_from!r}")
        rows = [(t, f, to, outcome, n) for (t, f, to, outcome), n in sorted(self.counts.items())]
        lines.append(table(("type", "from", "to", "outcome", "objects"), rows))
        for p in self.problems[:20]:
            lines.append(f"  {p.key}: {p.describe()}")
        if len(self.problems) > 20:
            lines.append(f"  ... and {len(self.problems) - 20} more")
        upgraded = sum(n for k, n in self.counts.items() if k[3] in ("upgraded", "would-upgrade"))
        verb = "would upgrade" if self.dry_run else "upgraded"
        head = f"upgrade-s3 {where}: {self.total} objects, {verb} {upgraded}"
        if self.problems:
            head += f", {len(self.problems)} left undone"
        if self.interrupted and self.last_key is not None:
            head += f"; interrupted, resume with --start-after {self.last_key!r}"
        elif self.interrupted:
            head += "; interrupted before a listing page was finished: run it again"
        lines.append(head)
        return "\n".join(lines)


def _pages(
    s3: Any, bucket: str, prefix: str, start_after: str | None, page_size: int
) -> Iterator[list[str]]:
    args: dict[str, Any] = {
        "Bucket": bucket,
        "Prefix": prefix,
        "PaginationConfig": {"PageSize": page_size},
    }
    if start_after:
        args["StartAfter"] = start_after
    for page in s3.get_paginator("list_objects_v2").paginate(**args):
        keys = [o["Key"] for o in page.get("Contents", [])]
        if keys:
            yield keys


def _load_state(path: str, bucket: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{path}: expected an upgrade-s3 state file, cannot read it: {exc}"
        ) from None
    if not isinstance(state, dict) or (state.get("bucket"), state.get("prefix")) != (
        bucket,
        prefix,
    ):
        raise ValueError(
            f"{path}: expected the state of s3://{bucket}/{prefix}, found "
            f"{state.get('bucket') if isinstance(state, dict) else '?'}/"
            f"{state.get('prefix') if isinstance(state, dict) else '?'}"
        )
    if state.get("complete"):
        return None  # the last run finished: start over (objects already current are skipped)
    last = state.get("last_key")
    return last if isinstance(last, str) else None


def _save_state(path: str, summary: Summary, *, complete: bool) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "bucket": summary.bucket,
                "prefix": summary.prefix,
                "last_key": summary.last_key,
                "complete": complete,
            },
            fh,
            indent=2,
            sort_keys=True,
        )
        fh.write("\n")
    os.replace(tmp, path)


def upgrade_prefix(
    s3: Any,
    registry: Registry,
    bucket: str,
    prefix: str,
    *,
    dry_run: bool = False,
    concurrency: int = 8,
    state_file: str | None = None,
    start_after: str | None = None,
    assume: tuple[str, int] | None = None,
    progress: Progress | None = None,
    on_result: Callable[[ObjectResult], None] | None = None,
    page_size: int = 1000,
) -> Summary:
    """Upgrade every object under ``prefix``, one listing page at a time.

    After each page (``page_size`` keys) the last key is recorded (in ``state_file`` when
    given), so a stopped run resumes from there; redoing a page is harmless because
    current objects are skipped.
    """
    summary = Summary(bucket, prefix, dry_run=dry_run)
    if state_file and start_after is None:
        start_after = _load_state(state_file, bucket, prefix)
    summary.resumed_from = start_after
    summary.last_key = start_after
    bar = progress or Progress(f"upgrade-s3 s3://{bucket}/{prefix}")
    lock = threading.Lock()

    def one(key: str) -> ObjectResult:
        result = upgrade_object(s3, registry, bucket, key, dry_run=dry_run, assume=assume)
        with lock:
            bar.advance()
        return result

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="upgrade-s3")
    try:
        for keys in _pages(s3, bucket, prefix, start_after, page_size):
            for result in pool.map(one, keys):
                summary.add(result)
                if on_result is not None:
                    on_result(result)
            summary.last_key = keys[-1]
            if state_file:
                _save_state(state_file, summary, complete=False)
    except KeyboardInterrupt:
        summary.interrupted = True
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        pool.shutdown(wait=True)
        bar.close()
    if state_file:
        _save_state(state_file, summary, complete=not summary.interrupted)
    return summary
