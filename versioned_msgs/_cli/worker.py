"""``versioned-msgs worker``: long-poll an SQS queue and run a Lambda-style handler.

The same ``handler(event, context)`` that runs on Lambda runs here (ECS/Fargate for work
beyond Lambda's 15 minutes, or a laptop): each received batch is shaped as Lambda's SQS event,
and the answer is read as Lambda reads it. Records named in ``batchItemFailures`` are left to
the queue's visibility timeout (so its redrive policy still applies); the rest are deleted. A
handler that raises fails the whole batch, as on Lambda. SIGTERM/SIGINT finish the current
batch, then stop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from .console import table

__all__ = ["WorkerContext", "WorkerStats", "Worker"]

log = logging.getLogger("versioned_msgs.worker")

Handler = Callable[[dict[str, Any], Any], Any]


class WorkerContext:
    """The parts of Lambda's context object handlers commonly use."""

    def __init__(self, *, function_name: str, deadline: float, queue_arn: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = queue_arn
        self.memory_limit_in_mb = 0
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = "versioned-msgs-worker"
        self.log_stream_name = function_name
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Time left before the batch's messages become visible again."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class WorkerStats:
    """What a worker did."""

    def __init__(self) -> None:
        self.batches = 0
        self.received = 0
        self.deleted = 0
        self.left = 0
        self.handler_errors = 0
        self.stopped_by: str | None = None

    def render(self) -> str:
        rows = [
            ("batches", self.batches),
            ("received", self.received),
            ("deleted (succeeded)", self.deleted),
            ("left to the visibility timeout (failed)", self.left),
            ("batches whose handler raised", self.handler_errors),
        ]
        end = f" (stopped by {self.stopped_by})" if self.stopped_by else ""
        return table(("worker", "count"), rows) + f"\nworker: done{end}"


def failed_ids(response: Any, ids: list[str]) -> set[str]:
    """The message ids Lambda would retry for a handler's answer.

    ``None`` or an answer without ``batchItemFailures`` means all succeeded; an answer
    naming an id that is not in the batch (or malformed) fails the whole batch, as on Lambda.
    """
    if not isinstance(response, dict) or "batchItemFailures" not in response:
        return set()
    failures = response["batchItemFailures"]
    if failures is None:
        return set()
    known = set(ids)
    out: set[str] = set()
    if not isinstance(failures, list):
        return known
    for item in failures:
        item_id = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(item_id, str) or item_id not in known:
            return known
        out.add(item_id)
    return out


class Worker:
    """Receive from ``queue_url`` and hand each batch to ``handler`` as a Lambda SQS event."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        wait_seconds: int = 20,
        visibility_timeout: int | None = None,
        function_name: str = "versioned-msgs-worker",
    ) -> None:
        if not 1 <= batch_size <= 10:
            raise ValueError(f"expected batch_size between 1 and 10, got {batch_size}")
        if not 0 <= wait_seconds <= 20:
            raise ValueError(f"expected wait_seconds between 0 and 20, got {wait_seconds}")
        if visibility_timeout is not None and not 0 <= visibility_timeout <= 43200:
            raise ValueError(
                f"expected visibility_timeout between 0 and 43200 seconds, got {visibility_timeout}"
            )
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.function_name = function_name
        self._stop = threading.Event()
        self._queue_attrs: dict[str, str] | None = None
        self.stats = WorkerStats()

    def stop(self, reason: str = "stop()") -> None:
        """Finish the batch in hand, then return from :meth:`run`."""
        if not self._stop.is_set():
            self.stats.stopped_by = reason
        self._stop.set()

    def _queue(self) -> dict[str, str]:
        if self._queue_attrs is None:
            self._queue_attrs = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"]
            )["Attributes"]
        return self._queue_attrs

    def run(
        self,
        *,
        until_empty: bool = False,
        install_signals: bool = False,
        max_batches: int | None = None,
    ) -> WorkerStats:
        """Poll until stopped (or, with ``until_empty``, until a receive finds nothing)."""
        previous: dict[signal.Signals, Any] = {}
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            while not self._stop.is_set():
                if max_batches is not None and self.stats.batches >= max_batches:
                    break
                handled = self.poll_once(
                    wait_seconds=min(self.wait_seconds, 1) if until_empty else None
                )
                if handled == 0 and until_empty:
                    break
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
        return self.stats

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop(signal.Signals(signum).name)

    def poll_once(self, *, wait_seconds: int | None = None) -> int:
        """Receive one batch, run the handler, delete the successes; returns the batch size."""
        attrs = self._queue()
        args: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": self.batch_size,
            "WaitTimeSeconds": self.wait_seconds if wait_seconds is None else wait_seconds,
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
        }
        if self.visibility_timeout is not None:
            args["VisibilityTimeout"] = self.visibility_timeout
        messages: list[dict[str, Any]] = self.sqs.receive_message(**args).get("Messages", [])
        if not messages:
            return 0
        visibility = self.visibility_timeout or int(attrs.get("VisibilityTimeout", "30"))
        deadline = time.monotonic() + visibility
        event = _lambda_sqs_event(messages, attrs["QueueArn"])
        context = WorkerContext(
            function_name=self.function_name, deadline=deadline, queue_arn=attrs["QueueArn"]
        )
        self.stats.batches += 1
        self.stats.received += len(messages)
        ids = [m["MessageId"] for m in messages]
        try:
            response = self.handler(event, context)
        except Exception:
            # As on Lambda: the whole batch returns to the queue after the visibility timeout.
            self.stats.handler_errors += 1
            self.stats.left += len(messages)
            log.exception(
                "versioned-msgs worker: the handler raised; %d messages return to %s after "
                "the visibility timeout",
                len(messages),
                self.queue_url,
            )
            return len(messages)
        failed = failed_ids(response, ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        self.stats.left += len(failed)
        if done:
            resp = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
            not_deleted = len(resp.get("Failed", []))
            self.stats.deleted += len(done) - not_deleted
            self.stats.left += not_deleted
        return len(messages)


def _lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    from ..testing._events import lambda_sqs_event

    return lambda_sqs_event(messages, queue_arn=queue_arn)
