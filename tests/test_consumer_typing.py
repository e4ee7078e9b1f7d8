"""The consumer API's types hold under mypy --strict (tests/typing/check_consumer_api.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

CHECK_FILE = Path(__file__).parent / "typing" / "check_consumer_api.py"


def test_consumer_api_types() -> None:
    """Handlers keep their signatures, reports and readers are typed, misuse is an error."""
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--cache-dir",
            str(Path(__file__).parent.parent / ".mypy_cache"),
            str(CHECK_FILE),
        ]
    )
    assert status == 0, stdout + stderr
