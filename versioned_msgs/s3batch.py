"""An S3 Batch Operations Lambda handler that upgrades each listed object in place.

For buckets too big for one machine's ``versioned-msgs upgrade-s3``::

    from versioned_msgs.s3batch import make_handler
    from app.models import registry

    lambda_handler = make_handler(registry)

Each task's object is read, upgraded to the current version of its type and written back
with ``IfMatch`` on the ETag read, keeping user metadata, content type and tags (the same
code as ``upgrade-s3``). Invocation schemas 1.0 (``s3BucketArn``) and 2.0 (``s3Bucket``)
are accepted; keys arrive URL-encoded and are decoded. Result codes:

- ``Succeeded``: upgraded, or nothing to do (already current, newer than this registry,
  unstamped, or a type this registry does not know); ``resultString`` says which.
- ``TemporaryFailure``: the object changed after it was read (it is left alone and S3 Batch
  Operations retries the task, which then reads the new object), or a transient AWS error.
- ``PermanentFailure``: the payload does not decode or upgrade, the object is missing or
  larger than ``max_bytes`` (refused before its body is read), the task names a version that
  is not the current one (``not-current``: an old version is never written over the current
  object), or the object was upgraded but another change landed between the re-check and
  the write (``written-over``, versioned buckets; ``resultString`` names the versions).

A job created with schema 2.0 may pass ``UserArguments`` ``{"dryRun": "true"}`` to report
without writing.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from ._aws.backfill import DEFAULT_MAX_BYTES, ObjectResult, check_max_bytes, upgrade_object
from ._core.registry import Registry

__all__ = ["make_handler"]

_RESULT_STRING_MAX = 1024


def _code(result: ObjectResult) -> str:
    if result.outcome in ("upgraded", "would-upgrade", "current", "newer", "unstamped"):
        return "Succeeded"
    if result.outcome == "unknown-type":
        return "Succeeded"
    return "TemporaryFailure" if result.temporary else "PermanentFailure"


def _bucket(task: dict[str, Any]) -> str:
    if task.get("s3Bucket"):
        return str(task["s3Bucket"])
    arn = str(task.get("s3BucketArn") or "")
    if not arn.startswith("arn:") or ":::" not in arn:
        raise ValueError(
            f"expected s3Bucket or an s3BucketArn like arn:aws:s3:::bucket, got {arn!r}"
        )
    return arn.split(":::", 1)[1]


def make_handler(
    registry: Registry,
    s3: Any = None,
    *,
    producer: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler for S3 Batch Operations jobs that upgrade objects with ``registry``.

    ``s3``: a boto3 S3 client (made on first use when ``None``). ``producer`` replaces the
    stamp's producer on rewritten objects (default: keep the one written). ``max_bytes``
    (default 16 MiB, as the consumer's) caps the objects read: a larger one is a
    ``PermanentFailure`` and its body is never read.
    """
    check_max_bytes(max_bytes)
    clients: list[Any] = [] if s3 is None else [s3]

    def client() -> Any:
        if not clients:
            import boto3

            clients.append(boto3.client("s3"))
        return clients[0]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        schema = str(event.get("invocationSchemaVersion", "1.0"))
        job = event.get("job") or {}
        user_args = job.get("userArguments") or {}
        dry_run = str(user_args.get("dryRun", "")).lower() in ("true", "1", "yes")
        results = []
        for task in event.get("tasks", []):
            task_id = task.get("taskId")
            try:
                bucket = _bucket(task)
                key = urllib.parse.unquote_plus(str(task["s3Key"]))
            except (KeyError, ValueError) as exc:
                results.append(
                    {
                        "taskId": task_id,
                        "resultCode": "PermanentFailure",
                        "resultString": f"malformed task: {exc}"[:_RESULT_STRING_MAX],
                    }
                )
                continue
            version_id = task.get("s3VersionId") or None
            result = upgrade_object(
                client(),
                registry,
                bucket,
                key,
                version_id=version_id,
                dry_run=dry_run,
                producer=producer,
                max_bytes=max_bytes,
            )
            results.append(
                {
                    "taskId": task_id,
                    "resultCode": _code(result),
                    "resultString": result.describe()[:_RESULT_STRING_MAX],
                }
            )
        return {
            "invocationSchemaVersion": schema,
            "treatMissingKeysAs": "PermanentFailure",
            "invocationId": event.get("invocationId"),
            "results": results,
        }

    return handler
