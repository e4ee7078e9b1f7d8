"""``versioned-msgs worker``: long-poll an SQS queue and run a Lambda-style handler.

The same ``handler(event, context)`` that runs on Lambda runs here (ECS/Fargate for work
beyond Lambda's 15 minutes, or a laptop): each received batch is shaped as Lambda's SQS event,
and the answer is read as Lambda reads it. Records named in ``batchItemFailures`` are left to
the queue's visibility timeout (so its redrive policy still applies); the rest are deleted. A
handler that raises fails the whole batch, as on Lambda.

While the handler runs, a heartbeat thread extends the batch's visibility
(``ChangeMessageVisibilityBatch`` every third of the visibility timeout), so a handler
longer than the timeout is not handed the same messages again in another worker. Receives
wait at most a second at a time, checking for a stop in between: SIGTERM/SIGINT finish the
batch in hand, and while idle stop the worker within about a second; messages a receive
returns after the stop are made visible again, unprocessed.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from .._aws.error_codes import error_code
from .console import table

__all__ = ["WorkerContext", "WorkerStats", "Worker"]

log = logging.getLogger("versioned_msgs.worker")

Handler = Callable[[dict[str, Any], Any], Any]

# SQS keeps a received message invisible for at most 12 hours, extensions included.
MAX_VISIBILITY_SECONDS = 43200
# The longest single receive wait: how long a stop can take to be noticed while idle.
RECEIVE_SLICE_SECONDS = 1
# The heartbeat extends the visibility when this fraction of the timeout has passed.
HEARTBEAT_FRACTION = 1 / 3


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
        """Time left before the batch's messages can become visible again: with the
        heartbeat, up to SQS's 12-hour limit (or, once an extension failed, the end of the
        last one); without it, the visibility timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class WorkerStats:
    """What a worker did."""

    def __init__(self) -> None:
        self.batches = 0
        self.received = 0
        self.deleted = 0
        self.left = 0
        self.handler_errors = 0
        self.extended = 0
        self.extension_failures = 0
        self.released = 0
        self.stopped_by: str | None = None

    def render(self) -> str:
        rows = [
            ("batches", self.batches),
            ("received", self.received),
            ("deleted (succeeded)", self.deleted),
            ("left to the visibility timeout (failed)", self.left),
            ("batches whose handler raised", self.handler_errors),
            ("visibility extensions (heartbeat)", self.extended),
        ]
        if self.extension_failures:
            rows.append(("visibility extensions that failed", self.extension_failures))
        if self.released:
            rows.append(("received after the stop, made visible again", self.released))
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


class _Heartbeat:
    """Extends the visibility of one batch's messages on a background thread until stopped.

    Every ``visibility x HEARTBEAT_FRACTION`` seconds it asks for ``visibility`` more seconds
    (never past SQS's 12 hours from the receive). A failed extension is logged (message ids
    and AWS's code, never a body) and moves the context's deadline to the end of the last
    extension that held every message; the remaining messages are still extended.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        messages: list[dict[str, Any]],
        *,
        visibility: int,
        received: float,
        context: WorkerContext,
        stats: WorkerStats,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.visibility = visibility
        self.limit = received + MAX_VISIBILITY_SECONDS
        self.held_until = received + visibility
        self.context = context
        self.stats = stats
        self._handles = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
        self._lapsed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="versioned-msgs-heartbeat", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop extending (waits for an extension under way to finish)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = self.visibility * HEARTBEAT_FRACTION
        while self._handles and not self._stop.wait(interval):
            try:
                self._beat()
            except Exception:  # a bug here must not kill the thread silently
                log.exception("versioned-msgs worker: the visibility heartbeat failed")
                self._lapse()

    def _beat(self) -> None:
        started = time.monotonic()
        timeout = min(self.visibility, math.floor(self.limit - started))
        if timeout <= 0:  # SQS's 12 hours are up: the messages cannot be held longer
            self._handles.clear()
            return
        ids = list(self._handles)
        entries = [
            {"Id": str(i), "ReceiptHandle": self._handles[mid], "VisibilityTimeout": timeout}
            for i, mid in enumerate(ids)
        ]
        try:
            resp = self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url, Entries=entries
            )
        except Exception as exc:
            self.stats.extension_failures += len(ids)
            log.warning(
                "versioned-msgs worker: could not extend the visibility of %d messages of %s "
                "(%s); they may be received again in %.0f s",
                len(ids),
                self.queue_url,
                error_code(exc) or type(exc).__name__,
                max(0.0, self.held_until - time.monotonic()),
            )
            self._lapse()
            return
        failed = resp.get("Failed") or []
        self.stats.extended += len(ids) - len(failed)
        if failed:
            self.stats.extension_failures += len(failed)
            lost = [(ids[int(f["Id"])], f.get("Code", "")) for f in failed]
            for mid, _ in lost:
                self._handles.pop(mid, None)  # an answer per entry is final: stop asking
            log.warning(
                "versioned-msgs worker: could not extend the visibility of messages %s of %s; "
                "they may be received again in %.0f s",
                ", ".join(f"{mid} ({code})" for mid, code in lost),
                self.queue_url,
                max(0.0, self.held_until - time.monotonic()),
            )
            self._lapse()
        elif not self._lapsed:
            self.held_until = started + timeout

    def _lapse(self) -> None:
        """From now on the handler's context counts down to the last full extension."""
        self._lapsed = True
        self.context._deadline = min(self.context._deadline, self.held_until)


class Worker:
    """Receive from ``queue_url`` and hand each batch to ``handler`` as a Lambda SQS event.

    ``heartbeat`` (default on) extends the visibility of the batch in hand while the handler
    runs; see the module docstring.
    """

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
        heartbeat: bool = True,
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
        self.heartbeat = heartbeat
        self._stop = threading.Event()
        self._queue_attrs: dict[str, str] | None = None
        self.stats = WorkerStats()

    def stop(self, reason: str = "stop()") -> None:
        """Finish the batch in hand (start none), then return from :meth:`run`."""
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
        """Receive one batch, run the handler, delete the successes; returns the batch size
        (0 when nothing came, or the worker was stopped meanwhile)."""
        attrs = self._queue()
        wait = self.wait_seconds if wait_seconds is None else wait_seconds
        messages, received = self._receive(wait)
        if not messages:
            return 0
        if self._stop.is_set():  # stopped while the receive was under way: start nothing
            self._release(messages)
            return 0
        visibility = (
            self.visibility_timeout
            if self.visibility_timeout is not None
            else int(attrs.get("VisibilityTimeout", "30"))
        )
        beating = self.heartbeat and visibility > 0
        deadline = received + (MAX_VISIBILITY_SECONDS if beating else visibility)
        event = _lambda_sqs_event(messages, attrs["QueueArn"])
        context = WorkerContext(
            function_name=self.function_name, deadline=deadline, queue_arn=attrs["QueueArn"]
        )
        self.stats.batches += 1
        self.stats.received += len(messages)
        ids = [m["MessageId"] for m in messages]
        heartbeat = None
        if beating:
            heartbeat = _Heartbeat(
                self.sqs,
                self.queue_url,
                messages,
                visibility=visibility,
                received=received,
                context=context,
                stats=self.stats,
            )
            heartbeat.start()
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
        finally:
            if heartbeat is not None:
                heartbeat.stop()
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

    def _receive(self, wait: int) -> tuple[list[dict[str, Any]], float]:
        """Messages from receives of at most ``RECEIVE_SLICE_SECONDS`` each, until some come,
        ``wait`` seconds pass or the worker is stopped; and the time the last receive was
        sent (where the messages' visibility timeout starts, at the latest)."""
        args: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": self.batch_size,
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
        }
        if self.visibility_timeout is not None:
            args["VisibilityTimeout"] = self.visibility_timeout
        end = time.monotonic() + wait
        while True:
            sent = time.monotonic()
            slice_ = max(0, min(RECEIVE_SLICE_SECONDS, math.ceil(end - sent)))
            messages: list[dict[str, Any]] = self.sqs.receive_message(
                **args, WaitTimeSeconds=slice_
            ).get("Messages", [])
            if messages or self._stop.is_set() or time.monotonic() >= end:
                return messages, sent

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Make received messages visible again at once, unprocessed."""
        self.stats.released += len(messages)
        try:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(messages)
                ],
            )
        except Exception as exc:
            log.warning(
                "versioned-msgs worker: stopping; could not hand back %d messages received "
                "after the stop (%s): they return after the visibility timeout",
                len(messages),
                error_code(exc) or type(exc).__name__,
            )


def _lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    from ..testing._events import lambda_sqs_event

    return lambda_sqs_event(messages, queue_arn=queue_arn)
