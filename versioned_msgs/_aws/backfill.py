"""Upgrade one stored S3 object in place (``versioned-msgs upgrade-s3`` and the S3 Batch handler).

Each object is read, upgraded through the registry and written back with ``IfMatch`` set to
the ETag that was read, so an object a producer rewrote meanwhile is left alone (reported as
a conflict). User metadata, content type, the usual object headers and the tags are kept.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import msgspec

from .._core.attributes import PREFIX
from .._core.envelope import looks_embedded, unembed
from .._core.errors import PayloadError, VersionedMsgsError
from .._core.registry import Registry
from .._core.routing import route
from .._core.stamp import Stamp, is_json
from .error_codes import NOT_FOUND, PRECONDITION_FAILED, TRANSIENT, error_code

__all__ = ["DONE", "ObjectResult", "upgrade_object"]

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
# A conditional write racing another write to the key can answer 409 instead of 412.
_CONFLICT_CODES = PRECONDITION_FAILED | {"ConditionalRequestConflict", "409"}

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
        code = error_code(exc)
        if code in _CONFLICT_CODES:
            return ObjectResult(
                key=key,
                outcome="conflict",
                detail="the object changed after it was read; left alone",
                temporary=version_id is None,
            )
        if code in NOT_FOUND:
            return ObjectResult(key=key, outcome="missing", detail="the object does not exist")
        return ObjectResult(
            key=key,
            outcome="failed",
            detail=f"{code or type(exc).__name__}: {exc}",
            temporary=code in TRANSIENT or not code,
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
    current = registry.current(name) if name in registry.types() else None
    decision = route(written, stamp.readable_by, current)
    if decision == "unknown":
        return ObjectResult(key=key, outcome="unknown-type", type=name, from_version=written)
    base = {"key": key, "type": name, "from_version": written, "to_version": current}
    if decision == "as-is":
        return ObjectResult(outcome="current", **base)  # type: ignore[arg-type]
    if decision != "upgrade":  # newer, readable or not: never rewritten by an older reader
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
