"""The benchmark harness runs end to end (tiny sizes; no timing is asserted here)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FIGURES = [
    "SQS, msgspec, current version",
    "SQS, msgspec, no md5OfMessageAttributes",
    "SQS FIFO, msgspec, per-message attribute",
    "SQS, pydantic, current version",
    "SQS, one upgrade step (v3->v4)",
    "SQS, one dict upgrade step (v3->v4)",
    "SQS, three upgrade steps (v1->v4)",
    "SQS, mixed v1-v4 batch",
    "SQS, one typed upgrade step (v3->v4)",
    "SQS, three typed upgrade steps (v1->v4)",
    "speed-up vs Powertools, SQS, msgspec",
    "speed-up vs Powertools, SQS, pydantic",
    "SNS->SQS, msgspec",
    "SNS->SQS, pydantic",
    "SNS->SQS raw delivery, msgspec",
    "Kinesis, msgspec",
    "EventBridge->SQS, msgspec",
    "EventBridge->Lambda, msgspec",
    "S3 notification via SQS, msgspec",
    "speed-up vs Powertools, SNS->SQS, msgspec",
    "speed-up vs Powertools, SNS->SQS, pydantic",
    "encode + stamp, 50 messages",
    "import versioned_msgs (fresh interpreter)",
    "peak memory",
]

# Sources whose fast path exists: their rows must never come from the general path or a
# partial hand-back (run.py marks such a row missed with a note, which --smoke tolerates).
FAST_ROWS = [
    "SQS, msgspec, current version",
    "SQS, msgspec, no md5OfMessageAttributes",
    "SQS, pydantic, current version",
]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, Path]:
    """One `run.py --smoke --json` run: its output, its JSON document and the JSON's path."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text()), out


def test_benchmark_smoke_run_prints_every_figure(smoke: tuple[str, dict, Path]) -> None:
    """`benchmarks/run.py --smoke` exits 0 and prints one table row per figure, every
    source's row among them, and writes the same rows as JSON."""
    stdout, doc, _ = smoke
    lines = stdout.splitlines()
    assert lines[1].startswith("figure")
    for figure in FIGURES:
        rows = [line for line in lines if line.startswith(figure)]
        assert len(rows) == 1, f"{figure!r} missing from:\n{stdout}"
        assert "| <= " in rows[0] or "| >= " in rows[0] or "(info)" in rows[0]
    for figure in FAST_ROWS:
        (line,) = [line for line in lines if line.startswith(figure)]
        assert "general path" not in line, line
        assert "fast path finished" not in line, line
    (imports,) = [line for line in lines if line.startswith("import versioned_msgs")]
    assert "loaded" not in imports  # the probe found neither boto3 nor pydantic imported

    assert doc["smoke"] is True
    assert doc["machine"] in lines[0]
    table = lines[3 : lines.index("")]
    assert [r["figure"] for r in doc["rows"]] == [line.split(" | ")[0].strip() for line in table]
    sources = {r["group"] for r in doc["rows"] if r["group"]}
    assert len(sources) >= 12
    for r in doc["rows"]:
        if r["group"]:
            assert r["ours_us"] > 0
            assert r["base_us"] > 0
            assert r["versus"] in ("floor", "Powertools")


def test_plot_draws_the_smoke_run(smoke: tuple[str, dict, Path], tmp_path: Path) -> None:
    """`benchmarks/plot.py` groups the rows per source (ours, floor, Powertools) and, with
    matplotlib installed (the bench extra), writes a PNG."""
    _, doc, results = smoke
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import plot
    finally:
        sys.path.pop(0)
    groups = plot.groups(doc)
    by_label = {g["label"]: g for g in groups}
    assert set(by_label["SNS -> SQS, msgspec"]["bars"]) == {"ours", "floor", "Powertools"}
    assert set(by_label["Kinesis"]["bars"]) == {"ours", "floor"}
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib not installed (the bench extra)")
    out = tmp_path / "performance.png"
    assert plot.main([str(results), str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
