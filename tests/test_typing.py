"""The public API's types hold under mypy --strict (every file in tests/typing/).

``check_public_api.py`` covers the registry, stamps and errors; ``check_consumer_api.py`` the
consumer (handlers keep their signatures, reports and readers are typed). Both use
``assert_type`` and carry deliberate type errors marked ``# type: ignore[...]``, which
``--strict`` (warn_unused_ignores) turns into failures when an error stops being one.
One mypy run checks them all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

CHECK_FILES = sorted((Path(__file__).parent / "typing").glob("check_*.py"))


def test_public_api_types() -> None:
    """assert_type checks pass and every deliberate type error is still an error."""
    assert len(CHECK_FILES) >= 2, CHECK_FILES
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--cache-dir",
            str(Path(__file__).parent.parent / ".mypy_cache"),
            *map(str, CHECK_FILES),
        ]
    )
    assert status == 0, stdout + stderr
