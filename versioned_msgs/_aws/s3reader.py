"""Reading the exact S3 object an event talks about, with its stamp, under a size cap."""

from __future__ import annotations

from typing import Any, TypeVar, overload

import msgspec

from .._core.errors import LimitExceededError, StaleObjectError
from .._core.meta import Meta
from .._core.registry import Registry
from .._core.stamp import Stamp
from .._core.trace import trace_from_metadata
from .error_codes import NOT_FOUND, PRECONDITION_FAILED, error_code, error_status

__all__ = ["DEFAULT_MAX_BYTES", "S3Object", "S3Reader"]

_M = TypeVar("_M")

#: Objects larger than this are refused before their body is read (configurable).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

# A pinned version or the bucket being gone leaves the event's object gone just the same.
_GONE_CODES = NOT_FOUND | {"NoSuchVersion", "NoSuchBucket"}


class S3Object(msgspec.Struct, frozen=True, kw_only=True):
    """An object as read: its body, the stamp from its metadata (None when unstamped), and
    the ETag / VersionId / ContentType / user metadata S3 answered with."""

    bucket: str
    key: str
    body: bytes
    stamp: Stamp | None
    etag: str | None = None
    version_id: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = {}


def s3_object(bucket: str, key: str, body: bytes, resp: dict[str, Any]) -> S3Object:
    """The object :meth:`S3Reader._read` read: its stamp read from the response's
    ``Metadata`` and ``ContentType`` (raises :class:`StampError` for a malformed one)."""
    content_type = resp.get("ContentType")
    metadata = resp.get("Metadata")
    stamp = Stamp.from_s3_metadata(metadata, content_type=content_type)
    return S3Object(
        bucket=bucket,
        key=key,
        body=body,
        stamp=stamp,
        etag=resp.get("ETag"),
        version_id=resp.get("VersionId"),
        content_type=content_type,
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
    )


def _request(bucket: str, key: str, match: str | None, version_id: str | None) -> dict[str, Any]:
    """A HeadObject's or GetObject's parameters: ``IfMatch`` and ``VersionId`` when set."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if match is not None:
        request["IfMatch"] = match
    if version_id:
        request["VersionId"] = version_id
    return request


class S3Reader:
    """Read stamped objects from S3: the exact object an event named, never a newer one.

    ``s3`` is a boto3 S3 client (made on first use when omitted); ``max_bytes`` caps the
    object size, checked against ``ContentLength`` before the body is read.
    """

    def __init__(
        self, registry: Registry, *, s3: Any = None, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes: expected a positive integer, got {max_bytes!r}")
        self.registry = registry
        self.max_bytes = max_bytes
        self._s3 = s3

    @property
    def s3(self) -> Any:
        """The boto3 S3 client (made with boto3 defaults on first use)."""
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3")
        return self._s3

    def fetch(
        self,
        bucket: str,
        key: str,
        *,
        etag: str | None = None,
        version_id: str | None = None,
        size: int | None = None,
    ) -> S3Object:
        """GetObject with ``IfMatch`` = ``etag`` and/or ``VersionId`` = ``version_id``.

        An object larger than ``max_bytes`` is refused (:class:`LimitExceededError`) before
        any download. ``size`` is the object's size as an S3 event reports it: with an
        ``etag`` or ``version_id`` pinning that exact object it is trusted for this check,
        which saves a HeadObject per read (the GetObject's ``ContentLength`` is still checked
        before the body is read); otherwise a HeadObject with the same conditions comes
        first. Raises :class:`StaleObjectError` when the object was overwritten (412) or
        deleted (404).
        """
        body, resp = self._read(bucket, key, etag, version_id, size)
        return s3_object(bucket, key, body, resp)

    def _read(
        self,
        bucket: str,
        key: str,
        etag: str | None = None,
        version_id: str | None = None,
        size: int | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        """:meth:`fetch`'s requests and checks: the object's body and the GetObject response
        (its ``Body`` read and closed), the stamp not read yet (:func:`s3_object` reads it)."""
        match = (etag if etag[0] == '"' else f'"{etag}"') if etag else None
        try:
            s3 = self._s3
            if s3 is None:
                s3 = self.s3
            if not ((etag or version_id) and type(size) is int and size >= 0):  # not pinned
                size = s3.head_object(**_request(bucket, key, match, version_id)).get(
                    "ContentLength"
                )
            if isinstance(size, int) and size > self.max_bytes:
                raise LimitExceededError(
                    f"s3://{bucket}/{key}: object of {size} bytes is larger than max_bytes "
                    f"({self.max_bytes}); not downloaded",
                    limit="max_bytes",
                    allowed=self.max_bytes,
                    actual=size,
                )
            if match is not None and not version_id:
                # (an S3 notification's usual read: keywords cost ~2,000 instructions less
                # than a request dict built and unpacked)
                resp = s3.get_object(Bucket=bucket, Key=key, IfMatch=match)
            else:
                resp = s3.get_object(**_request(bucket, key, match, version_id))
        except Exception as exc:
            # (botocore imported here, on the error path: a read that succeeds needs none)
            from botocore.exceptions import ClientError

            if not isinstance(exc, ClientError):
                raise
            where = f"s3://{bucket}/{key}"
            code = error_code(exc)
            status = error_status(exc)
            if code in PRECONDITION_FAILED or status == 412:
                raise StaleObjectError(
                    f"{where}: superseded: expected ETag {etag}"
                    + (f" (version {version_id})" if version_id else "")
                    + ", but the object was overwritten since the event",
                    bucket=bucket,
                    key=key,
                    reason="superseded",
                ) from None
            if code in _GONE_CODES or status == 404:
                raise StaleObjectError(
                    f"{where}: gone: the object"
                    + (f" version {version_id}" if version_id else "")
                    + f" no longer exists ({code})",
                    bucket=bucket,
                    key=key,
                    reason="gone",
                ) from None
            raise
        stream = resp["Body"]
        size = resp.get("ContentLength")
        if isinstance(size, int) and size > self.max_bytes:
            stream.close()
            raise LimitExceededError(
                f"s3://{bucket}/{key}: object of {size} bytes is larger than max_bytes "
                f"({self.max_bytes}); not read",
                limit="max_bytes",
                allowed=self.max_bytes,
                actual=size,
            )
        body: bytes = stream.read(self.max_bytes + 1)
        stream.close()
        if len(body) > self.max_bytes:
            raise LimitExceededError(
                f"s3://{bucket}/{key}: object is larger than max_bytes ({self.max_bytes}); "
                "not read",
                limit="max_bytes",
                allowed=self.max_bytes,
                actual=len(body),
            )
        return body, resp

    @overload
    def get(
        self,
        bucket: str,
        key: str,
        *,
        etag: str | None = None,
        version_id: str | None = None,
        into: type[_M],
    ) -> tuple[_M, Meta]: ...

    @overload
    def get(
        self,
        bucket: str,
        key: str,
        *,
        etag: str | None = None,
        version_id: str | None = None,
        into: None = None,
    ) -> tuple[Any, Meta]: ...

    def get(
        self,
        bucket: str,
        key: str,
        *,
        etag: str | None = None,
        version_id: str | None = None,
        into: type[Any] | None = None,
    ) -> tuple[Any, Meta]:
        """Read, stamp-check and decode one object (upgraded to the current model).

        The stamp comes from the object's metadata, else from an embedded envelope; an
        unstamped object raises :class:`MissingStampError`.
        """
        obj = self.fetch(bucket, key, etag=etag, version_id=version_id)
        msg, meta = self.registry.decode(obj.body, obj.stamp, into=into)
        return msg, msgspec.structs.replace(
            meta,
            source="s3",
            bucket=bucket,
            key=key,
            message_id=f"s3://{bucket}/{key}",
            carried_trace=trace_from_metadata(obj.metadata),
        )
