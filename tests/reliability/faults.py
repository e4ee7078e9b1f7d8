"""Fault injection: botocore event hooks on real clients reaching the moto server.

``Faults(client)`` registers hooks on a real boto3 client: an operation can be answered with
an AWS error response (``fail``), raise a botocore exception (``raise_``), or run a function
first (``before``). Everything else reaches the moto server unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse

Decide = Callable[[dict[str, Any]], Any]


def error_response(status: int, code: str, message: str = "injected fault") -> tuple[Any, Any]:
    """What a ``before-call`` hook returns to answer a call with an AWS error."""
    http = AWSResponse("https://fault.invalid/", status, {}, None)
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    return http, parsed


class Faults:
    """Hooks on one real client. ``decide(params)`` sees the call's parameters and returns
    None (let it through), ``(status, code)`` (an error response) or an exception to raise."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    def on(self, operation: str, decide: Decide) -> None:
        params_seen: list[dict[str, Any]] = []

        def remember(params: dict[str, Any], **_: Any) -> None:
            params_seen.append(dict(params))

        def before_call(**_: Any) -> Any:
            params = params_seen.pop() if params_seen else {}
            self.calls[operation] += 1
            verdict = decide(params)
            if verdict is None:
                return None
            self.injected[operation] += 1
            if isinstance(verdict, BaseException):
                raise verdict
            status, code = verdict
            return error_response(status, code)

        service = self.client.meta.service_model.service_id.hyphenize()
        self.client.meta.events.register(f"provide-client-params.{service}.{operation}", remember)
        self.client.meta.events.register(f"before-call.{service}.{operation}", before_call)


class EntryFaults:
    """Per-entry failures of a batch call (SQS SendMessageBatch, SNS PublishBatch): entries
    ``decide(entry, attempt)`` picks are taken out of the request before it is sent and
    reported in the answer's ``Failed`` list as ``(code, sender_fault)``; the rest reach moto.
    ``attempt`` counts calls carrying that entry's body, from 1."""

    def __init__(
        self,
        client: Any,
        operation: str,
        decide: Callable[[dict[str, Any], int], tuple[str, bool] | None],
    ) -> None:
        self.decide = decide
        self.attempts: Counter[str] = Counter()
        self.failed: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._empty = False
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register(f"provide-client-params.{service}.{operation}", self._params)
        events.register(f"before-call.{service}.{operation}", self._before)
        events.register(f"after-call.{service}.{operation}", self._after)

    def _params(self, params: dict[str, Any], **_: Any) -> None:
        keep, self._pending = [], []
        for entry in params["Entries"]:
            body = entry.get("MessageBody", entry.get("Message", ""))
            self.attempts[body] += 1
            verdict = self.decide(entry, self.attempts[body])
            if verdict is None:
                keep.append(entry)
                continue
            code, sender_fault = verdict
            self._pending.append(
                {"Id": entry["Id"], "SenderFault": sender_fault, "Code": code, "Message": code}
            )
        params["Entries"] = keep
        self._empty = not keep

    def _before(self, **_: Any) -> Any:
        if self._empty:  # nothing left to send: answer without calling AWS
            return AWSResponse("https://fault.invalid/", 200, {}, None), {
                "Successful": [],
                "Failed": [],
                "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}},
            }
        return None

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Failed", []).extend(self._pending)
        self.failed.extend(self._pending)
        self._pending = []
