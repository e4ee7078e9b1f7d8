"""Upgrade stored S3 objects in place: ``versioned-msgs upgrade-s3`` and the S3 Batch handler.

Each object is read, upgraded through the registry and written back with ``IfMatch`` set to
the ETag that was read, so an object a producer rewrote meanwhile is left alone (reported as
a conflict). User metadata, content type, the usual object headers and the tags are kept.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from ._console import Progress, table
from ._errors import PayloadError, VersionedMsgsError
from ._registry import Registry
from ._stamp import PREFIX, Stamp, is_json, looks_embedded, unembed

__all__ = ["ObjectResult", "Summary", "upgrade_object", "upgrade_prefix"]

# Object headers a rewrite must carry over (PutObject parameter names = GetObject fields).
_KEPT_HEADERS = (
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "Expires",
    "WebsiteRedirectLocation",
    "StorageClass",
    "SSEKMSKeyId",
    "BucketKeyEnabled",
)
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)

# Outcomes that mean the object needs no further work.
DONE = frozenset({"upgraded", "current", "newer", "unstamped", "unknown-type", "would-upgrade"})


class ObjectResult(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to one object.

    ``outcome``: ``upgraded`` ``would-upgrade`` (dry run) ``current`` ``newer``
    ``unstamped`` ``unknown-type`` ``conflict`` (changed since read; left alone)
    ``missing`` ``failed``. ``temporary`` marks failures worth retrying.
    """

    key: str
    outcome: str
    type: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    detail: str = ""
    temporary: bool = False

    def describe(self) -> str:
        what = f"{self.type} v{self.from_version}" if self.type else "object"
        if self.outcome in ("upgraded", "would-upgrade"):
            verb = "upgraded" if self.outcome == "upgraded" else "would upgrade"
            return f"{verb} {what} -> v{self.to_version}"
        return f"{self.outcome}: {what}" + (f": {self.detail}" if self.detail else "")


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status:
            return str(status)
    return ""


def _is_client_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("botocore")


def upgrade_object(
    s3: Any,
    registry: Registry,
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    dry_run: bool = False,
    assume: tuple[str, int] | None = None,
    producer: str | None = None,
) -> ObjectResult:
    """Upgrade one object to the current version of its type, conditionally on its ETag.

    ``assume`` = (type, version) stamps unstamped objects. ``producer`` replaces the
    stamp's producer (default: keep the one written). Never raises for AWS or payload
    errors: they come back as ``failed``/``conflict``/``missing`` results.
    """
    try:
        return _upgrade(s3, registry, bucket, key, version_id, dry_run, assume, producer)
    except Exception as exc:
        if not _is_client_error(exc):
            raise
        code = _error_code(exc)
        if code in _CONFLICT_CODES:
            return ObjectResult(
                key=key,
                outcome="conflict",
                detail="the object changed after it was read; left alone",
                temporary=version_id is None,
            )
        if code in _MISSING_CODES:
            return ObjectResult(key=key, outcome="missing", detail="the object does not exist")
        return ObjectResult(
            key=key,
            outcome="failed",
            detail=f"{code or type(exc).__name__}: {exc}",
            temporary=code in _TRANSIENT_CODES or not code,
        )


def _upgrade(
    s3: Any,
    registry: Registry,
    bucket: str,
    key: str,
    version_id: str | None,
    dry_run: bool,
    assume: tuple[str, int] | None,
    producer: str | None,
) -> ObjectResult:
    get_args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        get_args["VersionId"] = version_id
    obj = s3.get_object(**get_args)
    body: bytes = obj["Body"].read()
    etag: str = obj["ETag"]
    metadata: dict[str, str] = dict(obj.get("Metadata") or {})
    content_type = obj.get("ContentType")
    # Keep the object's carriers as they were: metadata stamp, embedded envelope, or both.
    embedded = looks_embedded(body)
    try:
        stamp = Stamp.from_s3_metadata(metadata, content_type=content_type)
        in_metadata = stamp is not None
        if stamp is None and embedded:
            stamp, _ = unembed(body)
    except VersionedMsgsError as exc:
        return ObjectResult(key=key, outcome="failed", detail=f"malformed stamp: {exc}")
    if stamp is None:
        if assume is None:
            return ObjectResult(key=key, outcome="unstamped")
        stamp = Stamp(type=assume[0], version=assume[1])
        in_metadata = True  # the upgraded object carries the stamp it lacked
    name, written = stamp.type, stamp.version
    if name not in registry.types():
        return ObjectResult(key=key, outcome="unknown-type", type=name, from_version=written)
    current = registry.current(name)
    base = {"key": key, "type": name, "from_version": written, "to_version": current}
    if written == current:
        return ObjectResult(outcome="current", **base)  # type: ignore[arg-type]
    if written > current:
        return ObjectResult(outcome="newer", **base)  # type: ignore[arg-type]
    if not is_json(stamp.content_type):
        return ObjectResult(
            outcome="failed",
            detail=f"expected a JSON object, got content type {stamp.content_type!r}",
            **base,  # type: ignore[arg-type]
        )
    try:
        msg, _ = registry.decode(body, stamp)
        encoded = registry.encode(msg, producer=producer or stamp.producer)
    except (PayloadError, VersionedMsgsError) as exc:
        return ObjectResult(outcome="failed", detail=str(exc), **base)  # type: ignore[arg-type]
    if dry_run:
        return ObjectResult(outcome="would-upgrade", **base)  # type: ignore[arg-type]

    put: dict[str, Any] = {"Bucket": bucket, "Key": key, "IfMatch": etag}
    user = {k: v for k, v in metadata.items() if not k.lower().startswith(PREFIX)}
    put["Body"] = encoded.embedded() if embedded else encoded.body
    put["Metadata"] = {**user, **encoded.stamp.to_s3_metadata()} if in_metadata else user
    put["ContentType"] = (
        content_type if content_type and is_json(content_type) else "application/json"
    )
    for header in _KEPT_HEADERS:
        value = obj.get(header)
        if value is not None and not (header == "StorageClass" and value == "STANDARD"):
            put[header] = value
    if str(obj.get("ServerSideEncryption", "")).startswith("aws:kms"):
        put["ServerSideEncryption"] = obj["ServerSideEncryption"]  # aws:kms or aws:kms:dsse
    if obj.get("TagCount"):  # S3 sends the count only when the object has tags
        tags = s3.get_object_tagging(Bucket=bucket, Key=key, **_vid(version_id))["TagSet"]
        if tags:
            put["Tagging"] = urllib.parse.urlencode([(t["Key"], t["Value"]) for t in tags])
    s3.put_object(**put)
    return ObjectResult(outcome="upgraded", **base)  # type: ignore[arg-type]


def _vid(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


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
