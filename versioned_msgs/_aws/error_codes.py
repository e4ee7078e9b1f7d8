"""The AWS error code and message of an exception botocore raised, and the S3 codes we act on.

Reads the exception's ``response`` attribute and never imports botocore, so catching code can
stay lazy about it and tests can hand in look-alikes.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "NOT_FOUND",
    "NO_OBJECT_LOCK",
    "PRECONDITION_FAILED",
    "THROTTLED",
    "TRANSIENT",
    "error_code",
    "error_message",
    "error_status",
]

# S3's answers for an object (or the key named) that does not exist.
NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
# S3's answers when IfMatch no longer matches: the object changed since it was read.
PRECONDITION_FAILED = frozenset({"PreconditionFailed", "412"})
# S3's answers when a bucket has no Object Lock configuration, or an object version no legal
# hold or retention: nothing to keep.
NO_OBJECT_LOCK = frozenset(
    {"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"}
)
# Throttling: the request was refused before any of it was done, so sending it again is
# safe. botocore's list of throttling codes, with SNS's ``Throttled`` and KMS's (a key
# behind an encrypted queue or stream).
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "Throttled",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "KMSThrottlingException",
        "429",
    }
)
# Codes worth retrying later: throttling and AWS-side failures.
TRANSIENT = THROTTLED | frozenset(
    {
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)


def _response(exc: BaseException) -> dict[str, Any]:
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else {}


def _error(exc: BaseException) -> dict[str, Any]:
    err = _response(exc).get("Error")
    return err if isinstance(err, dict) else {}


def error_status(exc: BaseException) -> Any:
    """The HTTP status of the answer behind ``exc`` (an int from botocore); None without one."""
    meta = _response(exc).get("ResponseMetadata")
    return meta.get("HTTPStatusCode") if isinstance(meta, dict) else None


def error_code(exc: BaseException) -> str:
    """AWS's error code for ``exc`` (``Error.Code``), else its HTTP status as text, else "".

    botocore fills in ``Error.Code`` itself, from the status when the answer has no body
    (HeadObject's 404): the fallback serves hand-made errors.
    """
    code = _error(exc).get("Code")
    if code:
        return str(code)
    status = error_status(exc)
    return str(status) if status else ""


def error_message(exc: BaseException) -> str:
    """AWS's error message for ``exc`` (``Error.Message``), else the exception's own text."""
    return str(_error(exc).get("Message") or exc)
