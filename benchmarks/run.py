"""Run the benchmarks, print one table and save it as JSON.

Usage: ``python benchmarks/run.py [--runs N] [--only docs|package]``
(``nox -s bench -- --runs 5`` passes the options on).  The results go to
``benchmarks/results/<timestamp>.json``; the exit status is 1 when a row is
over its budget.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SUITES = ("docs", "package")


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
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
            "-" if r["ratio"] is None else f"{r['ratio']:.3f}",
            "<= " + format_value(r["budget"], r["unit"])
            if r.get("kind") == "absolute"
            else f"<= {r['budget']}x",
            "yes" if r["passed"] else "NO",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]
    rule = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), rule]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the speed budgets of DESIGN §9.")
    parser.add_argument("--runs", type=int, default=3, help="runs of nox -s docs (default 3)")
    parser.add_argument("--only", choices=SUITES, help="one suite instead of both")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    rows: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    if options.only in (None, "docs"):
        import docs

        docs_rows, details["docs"] = docs.measure(runs=options.runs)
        rows += docs_rows
    if options.only in (None, "package"):
        import package

        rows += package.measure()
    print(table(rows))
    if "docs" in details:
        print()
        print(docs.describe(details["docs"]))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    path = results / f"{stamp}.json"
    document = {
        "timestamp": stamp,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "rows": rows,
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nsaved {path.relative_to(HERE.parent)}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
