"""Run the benchmarks, print one table and save it as JSON.

Usage: ``python benchmarks/run.py`` (``nox -s bench`` runs it). The results
go to ``benchmarks/results/<timestamp>.json``; the exit status is 1 when a
row is over its budget.
"""

from __future__ import annotations

import datetime
import importlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Each suite is a module in this directory with ``measure() -> list[dict]``.
SUITES = ["package"]


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.3g} {unit}"


def table(rows: list[dict[str, Any]]) -> str:
    header = ("benchmark", "measured", "baseline", "ratio", "budget", "ok")
    lines = [
        (
            r["name"],
            format_value(r["measured"], r["unit"]),
            format_value(r["baseline"], r["unit"]),
            f"{r['ratio']:.3f}",
            f"<= {r['budget']}",
            "yes" if r["passed"] else "NO",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]
    rule = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), rule]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def main() -> int:
    sys.path.insert(0, str(HERE))
    rows: list[dict[str, Any]] = []
    for suite in SUITES:
        rows += importlib.import_module(suite).measure()
    print(table(rows))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    path = results / f"{stamp}.json"
    document = {
        "timestamp": stamp,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "rows": rows,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nsaved {path.relative_to(HERE.parent)}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
