"""Small in-process fakes of the two AWS calls a consumer makes (pure unit tests only; the
moto tests use real clients). Both raise the exceptions botocore raises."""

from __future__ import annotations

import io
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError


def client_error(operation: str, code: str, status: int, message: str = "") -> ClientError:
    """The exception botocore raises for an error response."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message or code},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class FakeS3:
    """``head_object``/``get_object`` serving ``objects`` (key -> (body, metadata)); other
    keys answer with ``missing``: ``"404"``, ``"412"``, ``"500"`` or ``"timeout"``. Every
    call is recorded."""

    def __init__(
        self, objects: dict[str, tuple[bytes, dict[str, str]]] | None = None, missing: str = "404"
    ) -> None:
        self.objects = objects or {}
        self.missing = missing
        self.calls: list[dict[str, Any]] = []

    def head_object(self, **kwargs: Any) -> dict[str, Any]:
        out = self.get_object(**kwargs)
        del out["Body"]
        return out

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        found = self.objects.get(str(kwargs.get("Key")))
        if found is None:
            if self.missing == "timeout":
                raise ReadTimeoutError(endpoint_url="http://s3.fake/")
            status = int(self.missing)
            code = {404: "NoSuchKey", 412: "PreconditionFailed"}.get(status, "InternalError")
            raise client_error("GetObject", code, status)
        body, metadata = found
        return {
            "Body": io.BytesIO(body),
            "ContentLength": len(body),
            "Metadata": metadata,
            "ContentType": "application/json",
            "ETag": '"e"',
        }


class FakeSQS:
    """``send_message`` that records parked messages, or raises ``fail`` when set."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        self.sent.append(kwargs)
        return {"MessageId": f"parked-{len(self.sent)}"}
