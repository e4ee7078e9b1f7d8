"""The benchmark harness runs end to end (tiny sizes; no timing is asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FIGURES = [
    "consumer, msgspec, current version",
    "consumer, pydantic, current version",
    "consumer, one upgrade step (v3->v4)",
    "consumer, three upgrade steps (v1->v4)",
    "consumer, mixed v1-v4 batch",
    "speed-up vs Powertools, msgspec models",
    "speed-up vs Powertools, pydantic models",
    "encode + stamp, 50 messages",
    "import versioned_msgs (fresh interpreter)",
    "peak memory",
]


def test_benchmark_smoke_run_prints_every_figure() -> None:
    """`benchmarks/run.py --smoke` exits 0 and prints one table row per figure."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("figure")
    for figure in FIGURES:
        rows = [line for line in lines if line.startswith(figure)]
        assert len(rows) == 1, f"{figure!r} missing from:\n{done.stdout}"
        assert "| <= " in rows[0] or "| >= " in rows[0] or "(info)" in rows[0]
    (imports,) = [line for line in lines if line.startswith("import versioned_msgs")]
    assert "loaded" not in imports  # the probe found neither boto3 nor pydantic imported
