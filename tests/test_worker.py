"""versioned-msgs worker: Lambda-style handlers fed by an SQS long-poll (_worker)."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
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
    assert main(["worker", url, "worker_handlers:nothing", "--until-empty"]) == 2
    assert main(["worker", url, "worker_handlers:handler", "--wait-seconds", "21"]) == 2
    assert "expected wait_seconds between 0 and 20, got 21" in capsys.readouterr().err
    assert main(["worker", url, "worker_handlers:handler", "--batch-size", "11"]) == 2
