"""The library's exceptions.

Every error raised on purpose derives from one base::

    VersionedMsgsError
    ├── RegistryError            the registry is inconsistent (gaps, duplicates, bad declarations)
    ├── SchemaError              a model has no JSON schema (a field type JSON cannot describe)
    ├── StampError (ValueError)  a stamp is malformed
    │   └── MissingStampError    a stamp was required and none was found
    ├── UnknownTypeError (LookupError)  a message type the registry does not know
    ├── UnsupportedVersionError  a version this reader can neither upgrade nor read
    │   └── PinError (also a RegistryError)  a producer pin with no downgrader path
    ├── PayloadError (ValueError)       the body does not decode into the model
    ├── LimitExceededError (ValueError) an AWS limit would be broken; checked before any request
    ├── EventShapeError (ValueError)    a Lambda event (or record) of no known shape
    ├── StaleObjectError (LookupError)  the S3 object of an event was overwritten or deleted
    ├── BucketNotAllowedError (PermissionError)  an S3 read outside the allowed buckets
    └── RecordsFailedError              records of an async invocation failed (raised after all ran)

Messages say what was expected, what was found and where; the same facts are attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "BucketNotAllowedError",
    "EventShapeError",
    "LimitExceededError",
    "MissingStampError",
    "PayloadError",
    "PinError",
    "RecordsFailedError",
    "RegistryError",
    "SchemaError",
    "StampError",
    "StaleObjectError",
    "UnknownTypeError",
    "UnsupportedVersionError",
    "VersionedMsgsError",
]


#: How much of an untrusted value a message may show (stamp fields, attribute entries).
SHOWN_MAX = 64


def shown(value: object) -> str:
    """``repr(value)`` for an error message, cut to :data:`SHOWN_MAX` characters: stamps are
    untrusted input, and a 256 KiB ``vmsg-type`` must not be echoed into every log line."""
    text = repr(value)
    if len(text) <= SHOWN_MAX:
        return text
    return f"{text[:SHOWN_MAX]}... ({len(text)} characters)"


class VersionedMsgsError(Exception):
    """Base of every error this library raises on purpose.

    ``message_id`` is set when the error concerns one received record.
    """

    message_id: str | None = None

    def __init__(self, message: str, *, message_id: str | None = None) -> None:
        super().__init__(message)
        if message_id is not None:
            self.message_id = message_id

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only context, so the default (cls(*args)) cannot rebuild
        # them: copy, pickle and process pools get the message and attributes back as they are.
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(
    cls: type[VersionedMsgsError], args: tuple[Any, ...], state: dict[str, Any]
) -> VersionedMsgsError:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class RegistryError(VersionedMsgsError):
    """The registry is inconsistent; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"{len(self.problems)} registry problems:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(text)


class SchemaError(VersionedMsgsError):
    """A model's JSON schema could not be built (a field type with no JSON schema)."""


class StampError(VersionedMsgsError, ValueError):
    """A stamp is malformed.

    ``field`` is the Stamp attribute concerned (``type``, ``version``, ``readable_by``,
    ``producer``, ``content_type``; ``vmsg``/``data`` for the envelope itself) and ``value``
    what was found there (``None`` when it was missing).
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message, message_id=message_id)
        self.field = field
        self.value = value


class MissingStampError(StampError):
    """A stamp was required (no ``on_unversioned`` fallback applies) and none was found."""


class UnknownTypeError(VersionedMsgsError, LookupError):
    """The message type (or model class) is not registered.

    ``type`` is the type name asked for (for a model class: its qualified name); ``known``
    lists the registered types.
    """

    def __init__(
        self,
        type: str,
        known: Sequence[str],
        *,
        message_id: str | None = None,
        what: str | None = None,
    ) -> None:
        self.type = type
        self.known = sorted(known)
        shown = ", ".join(self.known) if self.known else "none"
        what = what or f"unknown message type {type!r}"
        super().__init__(f"{what}: this registry knows {shown}", message_id=message_id)


class UnsupportedVersionError(VersionedMsgsError):
    """This reader can neither upgrade nor read the version.

    ``type``, ``version`` (as written) and ``current`` (the reader's highest version).
    """

    def __init__(
        self,
        message: str,
        *,
        type: str,
        version: int,
        current: int | None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message, message_id=message_id)
        self.type = type
        self.version = version
        self.current = current


class PinError(RegistryError, UnsupportedVersionError):
    """A producer pin the registry cannot honour: no downgrader path to the pinned version.

    Raised when a ``Publisher`` is built. It is a :class:`RegistryError` (a gap found at
    cold start, listed in ``problems``) and an :class:`UnsupportedVersionError` (``type``,
    ``version`` that cannot be written down, ``current``).
    """

    def __init__(self, message: str, *, type: str, version: int, current: int | None) -> None:
        VersionedMsgsError.__init__(self, message)
        self.problems = [message]
        self.type = type
        self.version = version
        self.current = current


class PayloadError(VersionedMsgsError, ValueError):
    """The body does not decode into the model (or an upgrader failed on it).

    ``type`` and ``version`` say which model; ``stamp`` is the stamp read, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        version: int | None = None,
        stamp: Any = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message, message_id=message_id)
        self.type = type
        self.version = version
        self.stamp = stamp


class LimitExceededError(VersionedMsgsError, ValueError):
    """An AWS limit would be broken. ``limit`` names it; ``allowed`` and ``actual`` are values."""

    def __init__(
        self, message: str, *, limit: str, allowed: Any = None, actual: Any = None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.allowed = allowed
        self.actual = actual


class EventShapeError(VersionedMsgsError, ValueError):
    """The event (or one of its records) has no shape this library recognises.

    ``where`` says which part of the event, ``found`` what was there.
    """

    def __init__(self, message: str, *, where: str = "event", found: Any = None) -> None:
        super().__init__(message)
        self.where = where
        self.found = found


class StaleObjectError(VersionedMsgsError, LookupError):
    """The S3 object that raised an event is no longer there as it was.

    ``reason`` is ``"superseded"`` (overwritten since: its ETag changed) or ``"gone"``
    (deleted, or that version removed); ``bucket`` and ``key`` name the object. A consumer
    counts such records as ``skipped``: a newer object raises its own event, so nothing is
    processed twice.
    """

    def __init__(self, message: str, *, bucket: str, key: str, reason: str) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.reason = reason


class BucketNotAllowedError(VersionedMsgsError, PermissionError):
    """A record asked for an S3 read the consumer does not allow: a large-payload pointer or
    an S3 notification naming a bucket outside ``allowed_buckets`` (an ARN or access point
    included, unless listed exactly). ``bucket`` is the bucket named; no request was made."""

    def __init__(self, message: str, *, bucket: str, message_id: str | None = None) -> None:
        super().__init__(message, message_id=message_id)
        self.bucket = bucket


class RecordsFailedError(VersionedMsgsError):
    """Raised by ``Consumer.handle_event`` for async sources (SNS, S3, EventBridge) after
    every record was processed, when some were retried, rejected or failed: Lambda then
    retries the invocation and finally sends it to the on-failure destination. ``report``
    holds every result (a ``vm.Report``); the message names the failures.
    """

    def __init__(self, report: Any) -> None:
        self.report = report
        failures = report.failures
        # Our errors name fields and kinds of problems; a handler's own exception may hold
        # payload values, so only its type is named (the result keeps the exception).
        parts = [
            f"{r.message_id or '?'} {r.outcome}"
            + (
                ""
                if r.error is None
                else f" ({type(r.error).__name__}: {r.error})"
                if isinstance(r.error, VersionedMsgsError)
                else f" ({type(r.error).__name__})"
            )
            for r in failures[:10]
        ]
        more = f" and {len(failures) - 10} more" if len(failures) > 10 else ""
        super().__init__(
            f"{len(failures)} of {len(report.records)} {report.source} records failed: "
            + "; ".join(parts)
            + more
        )
