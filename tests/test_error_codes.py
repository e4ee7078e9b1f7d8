"""AWS error codes read from botocore exceptions in one place, and what each caller does
with them: batch failures, stale S3 reads, object upgrades."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

import versioned_msgs as vm
from versioned_msgs._aws.backfill import upgrade_object
from versioned_msgs._aws.batch import run_batches
from versioned_msgs._aws.error_codes import (
    NOT_FOUND,
    PRECONDITION_FAILED,
    error_code,
    error_message,
    error_status,
)


def client_error(code: str | None, status: int | None, message: str | None = None) -> ClientError:
    """What botocore raises for an error answer (fields left out when None)."""
    error: dict[str, Any] = {}
    if code is not None:
        error["Code"] = code
    if message is not None:
        error["Message"] = message
    response: dict[str, Any] = {"Error": error}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "GetObject")  # type: ignore[arg-type]


def test_error_code_is_aws_s_code() -> None:
    """error_code gives Error.Code, even when the HTTP status says something else."""
    assert error_code(client_error("NoSuchKey", 404)) == "NoSuchKey"
    assert error_code(client_error("SlowDown", 503)) == "SlowDown"


def test_error_code_falls_back_to_the_status() -> None:
    """Without a code, the HTTP status as text; without either, an empty string."""
    assert error_code(client_error(None, 412)) == "412"
    assert error_code(client_error("", 404)) == "404"
    assert error_code(client_error(None, None)) == ""


def test_exceptions_without_an_answer_have_no_code() -> None:
    """A botocore error without an AWS answer, or any other exception, has code "" and no
    status; its message is its own text."""
    for exc in (EndpointConnectionError(endpoint_url="https://x"), ValueError("boom")):
        assert error_code(exc) == ""
        assert error_status(exc) is None
        assert error_message(exc) == str(exc)


def test_error_message_and_status() -> None:
    """error_message gives Error.Message when there is one; error_status the HTTP status."""
    exc = client_error("AccessDenied", 403, "Access Denied")
    assert error_message(exc) == "Access Denied"
    assert error_status(exc) == 403
    assert error_message(client_error("AccessDenied", 403)) == str(
        client_error("AccessDenied", 403)
    )


def test_a_whole_request_failure_names_its_code_or_its_class() -> None:
    """run_batches fails every entry of a failed request with AWS's code and message, or
    with the exception's class name when botocore got no answer."""

    def run(exc: Exception) -> vm.BatchResult:
        def call(chunk: list[tuple[int, str]]) -> Any:
            raise exc

        return run_batches(
            [("a", 1), ("b", 1)], call, max_entries=10, max_bytes=100, max_attempts=1, backoff=0
        )

    failed = run(client_error("AccessDenied", 403, "no")).failed
    assert [(f.code, f.message) for f in failed] == [("AccessDenied", "no")] * 2
    failed = run(EndpointConnectionError(endpoint_url="https://x")).failed
    assert {f.code for f in failed} == {"EndpointConnectionError"}


class RaisingS3:
    """An S3 client whose every object call raises ``exc``."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def head_object(self, **kwargs: Any) -> Any:
        raise self.exc

    def get_object(self, **kwargs: Any) -> Any:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (client_error("PreconditionFailed", 412), "superseded"),
        (client_error(None, 412), "superseded"),
        (client_error("SomethingNew", 412), "superseded"),
        (client_error("NoSuchVersion", 404), "gone"),
        (client_error("NoSuchBucket", 404), "gone"),
        (client_error(None, 404), "gone"),
    ],
)
def test_s3_reader_tells_stale_from_gone(exc: ClientError, reason: str) -> None:
    """S3Reader raises StaleObjectError: superseded on 412 (by code or status), gone on 404
    or any code saying the key, version or bucket no longer exists."""
    reader = vm.S3Reader(vm.Registry(), s3=RaisingS3(exc))
    with pytest.raises(vm.StaleObjectError) as info:
        reader.fetch("b", "k", etag="e")
    assert info.value.reason == reason


def test_s3_reader_reraises_other_errors() -> None:
    """An error that is neither stale nor gone reaches the caller unchanged."""
    exc = client_error("AccessDenied", 403)
    reader = vm.S3Reader(vm.Registry(), s3=RaisingS3(exc))
    with pytest.raises(ClientError) as info:
        reader.fetch("b", "k", etag="e")
    assert info.value is exc


@pytest.mark.parametrize(
    ("exc", "outcome", "temporary"),
    [
        (client_error("PreconditionFailed", 412), "conflict", True),
        (client_error("ConditionalRequestConflict", 409), "conflict", True),
        (client_error("NoSuchKey", 404), "missing", False),
        (client_error(None, 404), "missing", False),
        (client_error("SlowDown", 503), "failed", True),
        (client_error(None, 500), "failed", True),
        (client_error("AccessDenied", 403), "failed", False),
        (EndpointConnectionError(endpoint_url="https://x"), "failed", True),
    ],
)
def test_object_upgrade_sorts_aws_errors(exc: Exception, outcome: str, temporary: bool) -> None:
    """upgrade_object turns AWS errors into results: a changed object is a conflict, a
    missing one missing, throttling and 5xx (or no answer at all) a temporary failure."""
    result = upgrade_object(RaisingS3(exc), vm.Registry(), "b", "k")
    assert (result.outcome, result.temporary) == (outcome, temporary)


def test_code_sets_hold_both_codes_and_statuses() -> None:
    """A bodiless S3 error (a HEAD's) has its status as code, so each set names the status too."""
    assert {"NoSuchKey", "404"} <= NOT_FOUND
    assert {"PreconditionFailed", "412"} <= PRECONDITION_FAILED
