"""versioned-msgs worker: Lambda-style handlers fed by an SQS long-poll (_worker)."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from versioned_msgs._cli.main import main
from versioned_msgs._cli.worker import Worker, failed_ids
from versioned_msgs.testing import Emulator


def _queue(aws: Emulator, name: str = "work", visibility: int = 30) -> tuple[Any, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})[
        "QueueUrl"
    ]
    return sqs, url


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    a = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_worker_drains_and_leaves_the_failure(aws: Emulator) -> None:
    """Successes are deleted; the record in batchItemFailures stays for the visibility timeout."""
    sqs, url = _queue(aws)
    for i in range(15):
        sqs.send_message(
            QueueUrl=url,
            MessageBody="bad" if i == 7 else f"ok-{i}",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": str(i)}},
        )
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert context.get_remaining_time_in_millis() > 0
        seen.extend(event["Records"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
            ]
        }

    stats = Worker(sqs, url, handler, wait_seconds=0).run(until_empty=True)
    assert stats.received == 15
    assert stats.deleted == 14
    assert stats.left == 1
    rec = seen[0]
    assert rec["eventSource"] == "aws:sqs"
    assert rec["eventSourceARN"].endswith(":work")
    assert rec["messageAttributes"]["n"]["dataType"] == "Number"
    assert "ApproximateReceiveCount" in rec["attributes"]
    assert _counts(sqs, url) == (0, 1)


def test_handler_exception_fails_the_whole_batch(aws: Emulator) -> None:
    """A raising handler deletes nothing, as on Lambda."""
    sqs, url = _queue(aws, "boom")
    sqs.send_message(QueueUrl=url, MessageBody="x")

    def handler(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("boom")

    stats = Worker(sqs, url, handler, wait_seconds=0).run(until_empty=True)
    assert stats.handler_errors == 1
    assert stats.deleted == 0
    assert _counts(sqs, url) == (0, 1)


def test_sigterm_finishes_the_batch_then_stops(aws: Emulator) -> None:
    """SIGTERM during a batch: that batch completes (deleted), then the worker exits."""
    sqs, url = _queue(aws, "term")
    for i in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    batches: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        batches.append(len(event["Records"]))
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    stats = Worker(sqs, url, handler, wait_seconds=0).run(install_signals=True)
    assert signal.getsignal(signal.SIGTERM) == before
    assert stats.stopped_by == "SIGTERM"
    assert len(batches) == 1
    assert stats.deleted == batches[0]
    assert sum(_counts(sqs, url)) == 25 - batches[0]


def test_failed_ids_reads_answers_as_lambda_does() -> None:
    """None/no key -> all succeeded; an unknown id or bad shape -> the whole batch failed."""
    ids = ["a", "b"]
    assert failed_ids(None, ids) == set()
    assert failed_ids({"batchItemFailures": []}, ids) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == {"b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, ids) == {"a", "b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) == {"a", "b"}
    assert failed_ids({"batchItemFailures": "nope"}, ids) == {"a", "b"}


def test_cli_worker_runs_a_handler_from_the_current_directory(
    aws: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`worker QUEUE_URL MODULE:ATTR --until-empty` drains and prints its counts."""
    sqs, url = _queue(aws, "cli-work")
    for body in ("1", "2", "fail"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    (tmp_path / "worker_handlers.py").write_text(
        textwrap.dedent(
            """
            def handler(event, context):
                return {"batchItemFailures": [
                    {"itemIdentifier": r["messageId"]}
                    for r in event["Records"] if r["body"] == "fail"
                ]}
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "worker_handlers", raising=False)
    code = main(
        [
            "worker",
            url,
            "worker_handlers:handler",
            "--until-empty",
            "--wait-seconds",
            "0",
            "--endpoint-url",
            aws.endpoint_url,
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert ["deleted", "(succeeded)", "2"] in [line.split() for line in out.splitlines()]
    assert _counts(sqs, url) == (0, 1)
    assert main(["worker", url, "worker_handlers:handler", "--until-empty", "--no-heartbeat"]) == 0
    assert main(["worker", url, "worker_handlers:nothing", "--until-empty"]) == 2
    assert main(["worker", url, "worker_handlers:handler", "--wait-seconds", "21"]) == 2
    assert "expected wait_seconds between 0 and 20, got 21" in capsys.readouterr().err
    assert main(["worker", url, "worker_handlers:handler", "--batch-size", "11"]) == 2


def test_heartbeat_keeps_a_long_handler_s_batch_from_a_second_worker(aws: Emulator) -> None:
    """A handler running more than twice the visibility timeout (4.5 s on 2 s) runs once: its
    worker extends the batch's visibility while it runs, so a second worker polling the
    same queue all along receives nothing; then the message is deleted."""
    sqs, url = _queue(aws, "slow", visibility=2)
    sqs.send_message(QueueUrl=url, MessageBody="long job")
    runs: list[str] = []

    def other(event: dict[str, Any], context: Any) -> None:
        runs.extend(f"second worker: {r['body']}" for r in event["Records"])

    second = Worker(aws.client("sqs"), url, other, wait_seconds=1)
    polling = threading.Thread(target=second.run, daemon=True)

    def long_job(event: dict[str, Any], context: Any) -> None:
        runs.extend(f"first worker: {r['body']}" for r in event["Records"])
        polling.start()  # the second worker polls only once the first holds the message
        threading.Event().wait(4.5)
        assert context.get_remaining_time_in_millis() > 60_000  # held by the heartbeat

    first = Worker(sqs, url, long_job, wait_seconds=0)
    assert first.poll_once() == 1
    second.stop()
    polling.join(timeout=30)
    assert not polling.is_alive()
    assert runs == ["first worker: long job"]
    assert first.stats.deleted == 1
    assert first.stats.extended >= 1
    assert first.stats.extension_failures == 0
    assert second.stats.received == 0
    assert _counts(sqs, url) == (0, 0)


def test_failed_extensions_are_logged_and_move_the_context_deadline(
    aws: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """When ChangeMessageVisibilityBatch fails, the heartbeat says so (ids and AWS's code,
    no body) and the handler's context counts down to the end of the last extension."""
    from botocore.awsrequest import AWSResponse

    sqs, url = _queue(aws, "no-extend", visibility=1)
    sqs.send_message(QueueUrl=url, MessageBody="secret body")
    failed = threading.Event()

    def refuse(**_: Any) -> Any:
        failed.set()
        parsed = {
            "Error": {"Code": "ServiceUnavailable", "Message": "try later"},
            "ResponseMetadata": {"HTTPStatusCode": 503, "HTTPHeaders": {}},
        }
        return AWSResponse("https://fault.invalid/", 503, {}, None), parsed

    sqs.meta.events.register("before-call.sqs.ChangeMessageVisibilityBatch", refuse)
    remaining: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        remaining.append(context.get_remaining_time_in_millis())
        assert failed.wait(30)
        give_up = time.monotonic() + 30  # the heartbeat thread notes the failure meanwhile
        while context.get_remaining_time_in_millis() > 1_000 and time.monotonic() < give_up:
            time.sleep(0.01)
        remaining.append(context.get_remaining_time_in_millis())

    worker = Worker(sqs, url, handler, wait_seconds=0)
    assert worker.poll_once() == 1
    assert remaining[0] > 60_000
    assert remaining[1] <= 1_000
    assert worker.stats.extension_failures >= 1
    text = caplog.text
    assert "could not extend the visibility of 1 messages" in text
    assert "ServiceUnavailable" in text
    assert "secret body" not in text


def test_sigterm_while_idle_stops_within_about_a_second_and_starts_no_batch(
    aws: Emulator,
) -> None:
    """SIGTERM during a 20 s long poll: the worker returns within about a second (receives
    wait at most 1 s at a time), and a message sent right after the signal is not handled:
    it is still in the queue, visible."""
    sqs, url = _queue(aws, "idle")
    polling = threading.Event()
    sqs.meta.events.register("before-call.sqs.ReceiveMessage", lambda **_: polling.set())
    handled: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        handled.extend(r["body"] for r in event["Records"])

    def signal_then_send() -> None:
        assert polling.wait(30)
        time.sleep(0.2)  # the long poll is under way
        os.kill(os.getpid(), signal.SIGTERM)
        aws.client("sqs").send_message(QueueUrl=url, MessageBody="after the signal")

    sender = threading.Thread(target=signal_then_send)
    sender.start()
    started = time.monotonic()
    stats = Worker(sqs, url, handler, wait_seconds=20).run(install_signals=True)
    elapsed = time.monotonic() - started
    sender.join(timeout=30)
    assert stats.stopped_by == "SIGTERM"
    assert handled == []
    assert stats.batches == 0
    assert elapsed < 10  # generous: the long poll alone would have lasted 20 s
    assert _counts(sqs, url) == (1, 0)
