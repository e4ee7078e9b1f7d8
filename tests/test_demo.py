"""versioned-msgs demo: the rollout story on the session's moto server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from versioned_msgs._cli import demo as _demo
from versioned_msgs._cli.main import main
from versioned_msgs.testing import Emulator

FINAL = re.compile(r"^sent (\d+), handled (\d+), lost (\d+)$", re.MULTILINE)


def test_demo_loses_nothing(aws: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    """Every phase reports what happened, and the run ends with lost 0 and exit status 0."""
    code = main(["demo", "--endpoint-url", aws.endpoint_url])
    out = capsys.readouterr().out
    assert code == 0, out
    m = FINAL.search(out)
    assert m is not None, out
    sent, handled, lost = map(int, m.groups())
    assert sent == handled == 32
    assert lost == 0
    assert out.rstrip().endswith(m.group(0))
    for phase in range(1, 7):
        assert f"Phase {phase}: " in out
    rows = [line.split() for line in out.splitlines()]
    assert ["billing", "v2", "order.created", "1", "upgraded", "4"] in rows  # phase 2
    assert ["billing", "v1", "order.created", "2", "tolerated", "4"] in rows  # phase 4
    assert ["billing", "v1", "customer.updated", "2", "retried", "2"] in rows
    assert ["order.created", "v1", "12", "0"] in rows  # phase 6: nothing left at v1
    # The demo cleans up after itself.
    assert aws.client("sqs").list_queues().get("QueueUrls", []) == []
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_demo_reports_a_lost_message(
    aws: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler that silently drops one message makes the demo count it lost and exit 1."""
    real = _demo._Ledger.handler

    def dropping(self: _demo._Ledger, model_id: str) -> Any:
        inner = real(self, model_id)

        def handle(msg: Any, meta: Any) -> None:
            if getattr(msg, model_id) != "o-001":
                inner(msg, meta)

        return handle

    monkeypatch.setattr(_demo._Ledger, "handler", dropping)
    assert main(["demo", "--endpoint-url", aws.endpoint_url, "--quiet"]) == 1
    out = capsys.readouterr().out
    assert out.strip() == "sent 32, handled 31, lost 1"


def test_demo_usage() -> None:
    """--aws and --endpoint-url exclude each other."""
    assert main(["demo", "--aws", "--endpoint-url", "http://127.0.0.1:1"]) == 2
