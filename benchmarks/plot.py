"""Draw the per-source chart of a benchmark run: microseconds per record, ours beside the floor.

    python benchmarks/run.py --json results.json
    python benchmarks/plot.py results.json [docs/img/performance.png]

For every source and model kind the run measured against its floor (the rows with a plot
group), one group of horizontal bars: the consumer (ours), that source's floor and, where
the run timed it, Powertools. Each group's label carries the ratio to the floor and the
target; a row whose records took the general path says so. Needs matplotlib (the ``bench``
extra).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "performance.png"

COLORS = {"ours": "#1f77b4", "floor": "#9e9e9e", "Powertools": "#ff7f0e"}


def groups(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per plot group, in the table's order: its label, the bars' values in
    microseconds per record (``ours``, ``floor``, ``Powertools`` when measured), the ratio
    to the floor, the target and the row's note."""
    out: dict[str, dict[str, Any]] = {}
    for r in doc["rows"]:
        name = r.get("group")
        if not name or r.get("ours_us") is None:
            continue
        g = out.setdefault(name, {"label": name, "bars": {}, "ratio": None, "target": ""})
        if r["versus"] == "floor":
            g["bars"]["ours"] = r["ours_us"]
            g["bars"]["floor"] = r["base_us"]
            g["ratio"] = r["ratio"]
            g["target"] = r["target"]
            g["note"] = r["note"]
        else:
            g["bars"].setdefault("ours", r["ours_us"])
            g["bars"][r["versus"]] = r["base_us"]
    return [g for g in out.values() if "floor" in g["bars"]]


def plot(doc: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gs = groups(doc)
    kinds = ["ours", "floor", "Powertools"]
    height = 0.26
    fig, ax = plt.subplots(figsize=(10, 0.62 * len(gs) + 1.6), dpi=110)
    top = max(v for g in gs for v in g["bars"].values())
    for i, g in enumerate(gs):
        present = [k for k in kinds if k in g["bars"]]
        start = i - height * (len(present) - 1) / 2
        for j, kind in enumerate(present):
            y = start + j * height
            value = g["bars"][kind]
            ax.barh(y, value, height=height * 0.92, color=COLORS[kind])
            ax.text(value + top * 0.006, y, f"{value:.1f}", va="center", fontsize=7.5)
    labels = []
    for g in gs:
        line = g["label"]
        if g["ratio"] is not None:
            line += f"\n{g['ratio']:.2f}x the floor"
            if g["target"]:
                line += f" (target {g['target']})"
        if g.get("note"):
            line += "\n" + g["note"]
        labels.append(line)
    ax.set_yticks(range(len(gs)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.08)
    ax.set_xlabel("microseconds per record (fastest of the paired samples; lower is better)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[k]) for k in kinds]
    names = ["versioned_msgs consumer", "the source's floor (bare loop)", "Powertools parser"]
    ax.legend(handles, names, loc="upper right", fontsize=8)
    ax.set_title(
        f"Consumer cost per record, by source ({doc['date']}; {doc['clock']})\n{doc['machine']}",
        fontsize=9,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: plot.py RESULTS.json [OUT.png]", file=sys.stderr)
        return 2
    doc = json.loads(Path(args[0]).read_text())
    out = Path(args[1]) if len(args) > 1 else DEFAULT_OUT
    plot(doc, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
