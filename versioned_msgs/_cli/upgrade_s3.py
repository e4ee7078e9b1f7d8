"""``versioned-msgs upgrade-s3``: upgrade every object under a prefix, resumably, with a
progress bar. The work on one object is :func:`versioned_msgs._aws.backfill.upgrade_object`,
shared with the S3 Batch Operations handler."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from .._aws.backfill import DEFAULT_MAX_BYTES, DONE, ObjectResult, check_max_bytes, upgrade_object
from .._core.registry import Registry
from .console import Progress, table

__all__ = ["DEFAULT_MAX_BYTES", "ObjectResult", "Summary", "upgrade_object", "upgrade_prefix"]

# ---- a whole prefix ---------------------------------------------------------------------


class Summary:
    """Counts and problems of an ``upgrade-s3`` run.

    ``carried``: the problems an interrupted run recorded in the state file before this run
    resumed it (they stay undone until a run starts over).
    """

    def __init__(self, bucket: str, prefix: str, *, dry_run: bool) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.dry_run = dry_run
        self.counts: Counter[tuple[str, str, str, str]] = Counter()
        self.problems: list[ObjectResult] = []
        self.carried: list[ObjectResult] = []
        self.last_key: str | None = None
        self.interrupted = False
        self.resumed_from: str | None = None
        self._settled = 0  # problems of the listing pages finished

    def page_done(self, last_key: str) -> None:
        """A listing page is finished: a resumed run starts after ``last_key``."""
        self.last_key = last_key
        self._settled = len(self.problems)

    def recorded(self) -> list[ObjectResult]:
        """The problems of every finished page, the ones carried included."""
        return self.carried + self.problems[: self._settled]

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
        return not self.problems and not self.carried and not self.interrupted

    def render(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        lines = []
        if self.resumed_from:
            lines.append(f"resumed after {self.resumed_from!r}")
        rows = [(t, f, to, outcome, n) for (t, f, to, outcome), n in sorted(self.counts.items())]
        lines.append(table(("type", "from", "to", "outcome", "objects"), rows))
        problems = [(p, " (an earlier run)") for p in self.carried]
        problems += [(p, "") for p in self.problems]
        for p, earlier in problems[:20]:
            lines.append(f"  {p.key}{earlier}: {p.describe()}")
        if len(problems) > 20:
            lines.append(f"  ... and {len(problems) - 20} more")
        upgraded = sum(n for k, n in self.counts.items() if k[3] in ("upgraded", "would-upgrade"))
        verb = "would upgrade" if self.dry_run else "upgraded"
        head = f"upgrade-s3 {where}: {self.total} objects, {verb} {upgraded}"
        if problems:
            head += f", {len(problems)} left undone"
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


def _load_state(path: str, bucket: str, prefix: str) -> tuple[str | None, list[ObjectResult]]:
    """The key to resume after and the problems recorded, from an unfinished run's state."""
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except FileNotFoundError:
        return None, []
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
        return None, []  # the last run finished: start over (current objects are skipped)
    last = state.get("last_key")
    try:
        undone = msgspec.convert(state.get("left_undone") or [], list[ObjectResult])
    except msgspec.ValidationError as exc:
        raise ValueError(f"{path}: expected left_undone to list objects: {exc}") from None
    return (last if isinstance(last, str) else None), undone


def _save_state(path: str, summary: Summary, *, complete: bool) -> None:
    """Write the state to a new temporary file beside ``path``, then move it over ``path``.

    ``mkstemp`` creates the file with ``O_EXCL`` under a name nobody chose in advance, so a
    link planted in the folder is never followed; a crash leaves the old state whole.
    """
    state = {
        "bucket": summary.bucket,
        "prefix": summary.prefix,
        "last_key": summary.last_key,
        "complete": complete,
        "left_undone": msgspec.to_builtins(summary.recorded()),
    }
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Summary:
    """Upgrade every object under ``prefix``, one listing page at a time.

    After each page (``page_size`` keys) the last key and the objects left undone are
    recorded (in ``state_file`` when given), so a stopped run resumes from there; redoing a
    page is harmless because current objects are skipped. An object that fails, however it
    fails, is reported and the run goes on. Objects larger than ``max_bytes`` are refused
    before their body is read.
    """
    check_max_bytes(max_bytes)
    summary = Summary(bucket, prefix, dry_run=dry_run)
    if state_file and start_after is None:
        start_after, summary.carried = _load_state(state_file, bucket, prefix)
    summary.resumed_from = start_after
    summary.last_key = start_after
    bar = progress or Progress(f"upgrade-s3 s3://{bucket}/{prefix}")
    lock = threading.Lock()

    def one(key: str) -> ObjectResult:
        result = upgrade_object(
            s3, registry, bucket, key, dry_run=dry_run, assume=assume, max_bytes=max_bytes
        )
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
            summary.page_done(keys[-1])
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
