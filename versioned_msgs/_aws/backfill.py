"""Upgrade one stored S3 object in place (``versioned-msgs upgrade-s3`` and the S3 Batch handler).

One object, in this order:

1. ``GetObject`` of the current object. A caller naming another version gets ``not-current``
   and nothing is written; an object larger than ``max_bytes`` (its ``ContentLength``) is
   refused before its body is read.
2. The stamp is read and routed; the body is upgraded and encoded in memory (a dry run stops
   here).
3. Right before the write, everything the rewrite carries is read again or checked: the
   Object Lock legal hold and retention of the version read (in a bucket with Object Lock),
   then ``HeadObject`` with ``IfMatch``, whose version, last-modified time, metadata and
   headers must equal what ``GetObject`` answered (else ``conflict``, left alone), then the
   tags.
4. ``PutObject`` with ``IfMatch`` = the ETag read, carrying the user metadata, the headers,
   the tags and the Object Lock settings just read.
5. In a versioned bucket, afterwards: the version just before ours must be the version read,
   and its tags and Object Lock settings must still be the ones carried. Otherwise a change
   landed between the re-check and the write: ``written-over`` (the other writer's version is
   kept as a noncurrent version; a legal hold or a longer retention is also put on ours).

What no request can show remains: in a bucket without versioning (or with versioning
suspended), a metadata-only change landing between the ``HeadObject`` and the ``PutObject``,
or a tag change between the tag read and the ``PutObject``, is replaced by the rewrite.
"""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Callable
from typing import Any

import msgspec

from .._core.attributes import PREFIX
from .._core.envelope import looks_embedded, unembed
from .._core.errors import PayloadError, VersionedMsgsError
from .._core.registry import Registry
from .._core.routing import route
from .._core.stamp import Stamp, is_json
from .error_codes import NO_OBJECT_LOCK, NOT_FOUND, PRECONDITION_FAILED, TRANSIENT, error_code
from .s3reader import DEFAULT_MAX_BYTES

__all__ = ["DEFAULT_MAX_BYTES", "DONE", "ObjectResult", "check_max_bytes", "upgrade_object"]

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
# What must be as GetObject answered when the write is about to happen (the body and its
# ETag are pinned by IfMatch). A metadata-only CopyObject keeps the ETag but changes the
# last-modified time, and in a versioned bucket the version.
_CHECKED = (
    "VersionId",
    "LastModified",
    "ContentLength",
    "ContentType",
    "Metadata",
    "ServerSideEncryption",
    *_KEPT_HEADERS,
)
# A conditional write racing another write to the key can answer 409 instead of 412.
_CONFLICT_CODES = PRECONDITION_FAILED | {"ConditionalRequestConflict", "409"}
# S3's version id of an object written while the bucket was not versioning.
_NULL_VERSION = "null"

# Outcomes that mean the object needs no further work.
DONE = frozenset({"upgraded", "current", "newer", "unstamped", "unknown-type", "would-upgrade"})


class ObjectResult(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to one object.

    ``outcome``: ``upgraded`` ``would-upgrade`` (dry run) ``current`` ``newer``
    ``unstamped`` ``unknown-type``; the problems: ``conflict`` (changed since read; left
    alone) ``not-current`` (the version named is not the current one; nothing written)
    ``written-over`` (upgraded, but a change landed between the re-check and the write; the
    detail names the versions) ``unverified`` (upgraded, but the check after the write could
    not run) ``missing`` ``failed``. ``temporary`` marks failures worth retrying.
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


def check_max_bytes(max_bytes: object) -> int:
    """``max_bytes`` as given, when it is a positive integer; ValueError otherwise."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes: expected a positive integer, got {max_bytes!r}")
    return max_bytes


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
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ObjectResult:
    """Upgrade one object to the current version of its type, conditionally on its ETag.

    ``version_id``: the version the caller means (an S3 Batch task's); when it is not the
    current one the result is ``not-current`` and nothing is written. ``assume`` = (type,
    version) stamps unstamped objects. ``producer`` replaces the stamp's producer (default:
    keep the one written). ``max_bytes`` caps the size of the object read. Never raises but
    for ``KeyboardInterrupt``: AWS errors, payload errors and anything unexpected (even a
    ``MemoryError``) come back as results.
    """
    check_max_bytes(max_bytes)
    job = _Rewrite(s3, bucket, key)
    try:
        return job.run(registry, version_id, dry_run, assume, producer, max_bytes)
    except Exception as exc:
        return job.failure(exc, pinned=version_id is not None)


class _Lock(msgspec.Struct, frozen=True):
    """The Object Lock settings of one object version."""

    hold: bool = False
    mode: str | None = None
    until: datetime.datetime | None = None

    def put_args(self) -> dict[str, Any]:
        """PutObject parameters giving a new version the same protection."""
        args: dict[str, Any] = {}
        if self.hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        if self.mode and self.until and self.until > datetime.datetime.now(datetime.timezone.utc):
            args["ObjectLockMode"] = self.mode
            args["ObjectLockRetainUntilDate"] = self.until
        if args:  # S3 wants a checksum on a write that sets Object Lock parameters
            args["ChecksumAlgorithm"] = "SHA256"
        return args


class _Rewrite:
    """The upgrade of one object; remembers how far it got, so a failure says so."""

    def __init__(self, s3: Any, bucket: str, key: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = key
        self.type: str | None = None
        self.from_version: int | None = None
        self.to_version: int | None = None
        self.written: str | None = None  # our new version's id, once PutObject succeeded

    def result(self, outcome: str, detail: str = "", *, temporary: bool = False) -> ObjectResult:
        return ObjectResult(
            key=self.key,
            outcome=outcome,
            type=self.type,
            from_version=self.from_version,
            to_version=self.to_version,
            detail=detail,
            temporary=temporary,
        )

    def failure(self, exc: Exception, *, pinned: bool) -> ObjectResult:
        client = _is_client_error(exc)
        code = error_code(exc) if client else ""
        # A client error's text is AWS's; any other exception's text may quote the payload.
        what = f"{code or type(exc).__name__}: {exc}" if client else f"{type(exc).__name__}"
        if self.written is not None:
            return self.result(
                "unverified",
                f"upgraded (version {self.written}), but the check after the write failed: {what}",
            )
        if not client:
            return self.result("failed", f"unexpected {what} (its text is not shown)")
        if code in _CONFLICT_CODES:
            return self.result(
                "conflict", "the object changed after it was read; left alone", temporary=not pinned
            )
        if code in NOT_FOUND:
            return self.result("missing", "the object does not exist")
        return self.result("failed", what, temporary=code in TRANSIENT or not code)

    def run(
        self,
        registry: Registry,
        version_id: str | None,
        dry_run: bool,
        assume: tuple[str, int] | None,
        producer: str | None,
        max_bytes: int,
    ) -> ObjectResult:
        s3, bucket, key = self.s3, self.bucket, self.key
        obj = s3.get_object(Bucket=bucket, Key=key)
        read_version = str(obj.get("VersionId") or _NULL_VERSION)
        refused = self._refuse(obj, read_version, version_id, max_bytes)
        if refused is not None:
            return refused
        body: bytes = obj["Body"].read(max_bytes + 1)
        obj["Body"].close()
        if len(body) > max_bytes:
            return self.result("failed", f"object larger than max_bytes ({max_bytes}); not read")
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
            return self.result("failed", f"malformed stamp: {exc}")
        if stamp is None:
            if assume is None:
                return self.result("unstamped")
            stamp = Stamp(type=assume[0], version=assume[1])
            in_metadata = True  # the upgraded object carries the stamp it lacked
        name, written = stamp.type, stamp.version
        current = registry.current(name) if name in registry.types() else None
        self.type, self.from_version = name, written
        decision = route(written, stamp.readable_by, current)
        if decision == "unknown":
            return self.result("unknown-type")
        self.to_version = current
        if decision == "as-is":
            return self.result("current")
        if decision != "upgrade":  # newer, readable or not: never rewritten by an older reader
            return self.result("newer")
        if not is_json(stamp.content_type):
            return self.result(
                "failed", f"expected a JSON object, got content type {stamp.content_type!r}"
            )
        try:
            msg, _ = registry.decode(body, stamp)
            encoded = registry.encode(msg, producer=producer or stamp.producer)
        except (PayloadError, VersionedMsgsError) as exc:
            return self.result("failed", str(exc))
        if dry_run:
            return self.result("would-upgrade")

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

        # The re-check, as close to the write as it can be: lock settings, headers, tags.
        lock = self._lock(read_version) if self._object_lock() else None
        changed = self._changed(obj, etag)
        if changed:
            return self.result(
                "conflict",
                f"the object's {', '.join(changed)} changed after it was read; left alone",
                temporary=version_id is None,
            )
        # Without versioning there is only the current object: no version-tagging permission.
        tags = self._tags(**({} if read_version == _NULL_VERSION else {"VersionId": read_version}))
        if tags:
            put["Tagging"] = urllib.parse.urlencode(tags)
        if lock is not None:
            put.update(lock.put_args())
        answer = s3.put_object(**put)
        ours = answer.get("VersionId")
        if ours in (None, _NULL_VERSION):
            return self.result("upgraded")  # no versions to look back at: see the module doc
        self.written = str(ours)
        problems = self._after_write(read_version, self.written, tags, lock)
        if problems:
            return self.result("written-over", "; ".join(problems))
        return self.result("upgraded")

    def _refuse(
        self, obj: dict[str, Any], read_version: str, version_id: str | None, max_bytes: int
    ) -> ObjectResult | None:
        """``not-current`` or too large, decided on GetObject's headers (the body is closed
        unread); None when the body may be read."""
        refusal = None
        if version_id is not None and version_id != read_version:
            refusal = self.result(
                "not-current",
                f"version {version_id} is not the current one ({read_version}); an older "
                "version is never written over the current object",
            )
        size = obj.get("ContentLength")
        if refusal is None and isinstance(size, int) and size > max_bytes:
            refusal = self.result(
                "failed", f"object of {size} bytes is larger than max_bytes ({max_bytes}); not read"
            )
        if refusal is not None:
            obj["Body"].close()
        return refusal

    def _changed(self, obj: dict[str, Any], etag: str) -> list[str]:
        """The fields HeadObject now answers differently from GetObject (412 if the ETag did)."""
        head = self.s3.head_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
        return [field for field in _CHECKED if head.get(field) != obj.get(field)]

    def _tags(self, **version: str) -> list[tuple[str, str]]:
        """The tags of the version named (``VersionId=...``), else of the current object."""
        answer = self.s3.get_object_tagging(Bucket=self.bucket, Key=self.key, **version)
        return sorted((t["Key"], t["Value"]) for t in answer.get("TagSet") or ())

    def _object_lock(self) -> bool:
        """Whether the bucket has Object Lock enabled (asked, never assumed: S3 leaves the
        lock headers out of GetObject's answer when the caller may not read them)."""
        answer = _unless_no_lock(self.s3.get_object_lock_configuration, Bucket=self.bucket)
        config = answer.get("ObjectLockConfiguration") or {}
        return bool(config.get("ObjectLockEnabled") == "Enabled")

    def _lock(self, version: str) -> _Lock:
        where = {"Bucket": self.bucket, "Key": self.key, "VersionId": version}
        hold = _unless_no_lock(self.s3.get_object_legal_hold, **where).get("LegalHold") or {}
        kept = _unless_no_lock(self.s3.get_object_retention, **where).get("Retention") or {}
        return _Lock(
            hold=hold.get("Status") == "ON",
            mode=kept.get("Mode"),
            until=kept.get("RetainUntilDate"),
        )

    def _after_write(
        self, read: str, ours: str, tags: list[tuple[str, str]], lock: _Lock | None
    ) -> list[str]:
        """What changed between the re-check and the write, seen from the versions."""
        found, before = self._version_before(ours)
        if not found:
            return [f"version {ours} written is no longer listed; check the object's versions"]
        if before != read:
            return [
                f"version {before}, not version {read} that was read, was current just before "
                f"ours ({ours}): it holds a change made during the rewrite and is kept as a "
                "noncurrent version"
            ]
        problems = []
        if self._tags(VersionId=read) != tags:
            problems.append(
                f"the tags of version {read} changed during the rewrite; version {ours} carries "
                "the ones read before"
            )
        if lock is not None:
            now = self._lock(read)
            if now != lock:
                problems.append(
                    f"the Object Lock settings of version {read} changed during the rewrite"
                    + self._strengthen(ours, lock, now)
                )
        return problems

    def _version_before(self, ours: str) -> tuple[bool, str | None]:
        """(whether ``ours`` is listed, the id of the version listed just before it)."""
        pages = self.s3.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=self.key, PaginationConfig={"PageSize": 20}
        )
        found = False
        for page in pages:  # a key's versions come first, newest first, before longer keys
            for version in page.get("Versions") or ():
                if version.get("Key") != self.key:
                    return found, None
                if found:
                    return True, str(version.get("VersionId"))
                found = version.get("VersionId") == ours
        return found, None

    def _strengthen(self, ours: str, carried: _Lock, now: _Lock) -> str:
        """Put on our version the hold or the longer retention the version read gained."""
        where = {"Bucket": self.bucket, "Key": self.key, "VersionId": ours}
        done = []
        if now.hold and not carried.hold:
            self.s3.put_object_legal_hold(**where, LegalHold={"Status": "ON"})
            done.append("legal hold")
        if now.mode and now.until and (carried.until is None or now.until > carried.until):
            self.s3.put_object_retention(
                **where, Retention={"Mode": now.mode, "RetainUntilDate": now.until}
            )
            done.append("retention")
        return f"; its {' and '.join(done)} now also on version {ours}" if done else ""


def _unless_no_lock(call: Callable[..., Any], **args: Any) -> dict[str, Any]:
    """``call(**args)``'s answer; an empty one when S3 says there is no Object Lock setting."""
    try:
        return dict(call(**args))
    except Exception as exc:
        if _is_client_error(exc) and error_code(exc) in NO_OBJECT_LOCK:
            return {}
        raise
