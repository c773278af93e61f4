"""Benchmarks for the docs budgets of DESIGN section 9.

* ``nox -s docs`` with existing environments, from an empty build directory:
  every example of both languages verified on one interpreter (the docs
  session's), then both sites built.  It runs ``--runs`` times; each run
  writes how long each example took (docs/conftest.py, HANDBOOK_TIMINGS).
  From those runs: each example's median time, the median over all examples,
  the slowest ten, and the wall-clock time of verifying them all.
* The same examples once more with ``nox -s docs-spawn``: each in a new
  interpreter instead of the fork server.  Its median block is the baseline
  of the median-block row, measured in the same benchmark run.
* One edited page rebuilt: in a copy of docs/ (built once first), append a
  sentence to one page and time ``python -m handbook.build``.

The budgets are absolute (seconds on the machine at hand); the spawn
baseline shows what the fork server saves, it is not what the budget is.
nox is found as HANDBOOK_NOX (a command; ``nox -s bench`` sets it) or on PATH.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_shared"))
from handbook.config import NOX_VARIABLE, TIMINGS_VARIABLE  # noqa: E402

DOCS = ROOT / "docs"
BUILD = DOCS / "_build"
#: The page edited for the one-page rebuild: a long page with many examples.
EDITED_PAGE = Path("en") / "patterns" / "async-generator-cleanup.md"
MEDIAN_BLOCK_BUDGET = 0.050
EXAMPLES_TOTAL_BUDGET = 60.0
NOX_DOCS_BUDGET = 60.0
REBUILD_BUDGET = 5.0


def absolute_row(
    name: str, values: list[float], budget: float, baseline: float | None = None
) -> dict[str, Any]:
    measured = statistics.median(values)
    return {
        "name": name,
        "measured": measured,
        "baseline": baseline,
        "ratio": None if baseline is None else measured / baseline,
        "kind": "absolute",
        "budget": budget,
        "unit": "s",
        "passed": measured <= budget,
        "runs": len(values),
        "values": values,
    }


def nox_command() -> list[str]:
    command = os.environ.get(NOX_VARIABLE)
    if command:
        return shlex.split(command)
    found = shutil.which("nox")
    if found is None:
        raise SystemExit("nox is needed for the docs benchmarks: pip install nox")
    return [found]


def run_nox(session: str, timings: Path) -> float:
    """One ``nox -s <session>`` (docs: from an empty build directory); its seconds."""
    if session == "docs":
        for built in ("html", "doctrees"):
            shutil.rmtree(BUILD / built, ignore_errors=True)
    env = {**os.environ, TIMINGS_VARIABLE: str(timings)}
    # Whatever environment nox -s bench runs in must not leak into nox.
    for name in ("VIRTUAL_ENV", "NOX_CURRENT_SESSION"):
        env.pop(name, None)
    started = time.perf_counter()
    completed = subprocess.run(
        [*nox_command(), "-s", session],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stdout[-5000:], file=sys.stderr)
        raise SystemExit(f"nox -s {session} failed; the docs benchmarks need it to pass")
    return seconds


def rebuild_one_page(runs: int) -> list[float]:
    """Seconds to rebuild the site after editing one page, ``runs`` times."""
    with tempfile.TemporaryDirectory(prefix="handbook-bench-") as scratch:
        copy = Path(scratch) / "docs"
        shutil.copytree(DOCS, copy, ignore=shutil.ignore_patterns("_build", "__pycache__"))
        env = dict(os.environ, PYTHONPATH=str(copy / "_shared"))
        command = [sys.executable, "-m", "handbook.build"]

        def build() -> float:
            started = time.perf_counter()
            subprocess.run(command, cwd=copy, env=env, check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - started

        build()  # the full build the edits are compared with
        page = copy / EDITED_PAGE
        seconds = []
        for run in range(runs):
            with page.open("a", encoding="utf-8") as text:
                text.write(f"\nOne more sentence, edit {run + 1}.\n")
            seconds.append(build())
        return seconds


def example_medians(documents: list[dict[str, Any]]) -> dict[tuple[str, int], float]:
    """Each example that passed: its median time over the runs."""
    per_example: dict[tuple[str, int], list[float]] = {}
    for document in documents:
        for example in document["examples"]:
            if example["outcome"] == "passed":
                key = (example["page"], example["line"])
                per_example.setdefault(key, []).append(example["seconds"])
    return {key: statistics.median(values) for key, values in per_example.items()}


def summarize(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Per example, the median over the runs; then the figures the page shows."""
    languages = {
        (example["page"], example["line"]): example["language"]
        for document in documents
        for example in document["examples"]
    }
    medians = example_medians(documents)
    summary: dict[str, Any] = {
        "examples": len(medians),
        "median": statistics.median(medians.values()),
        "sum": sum(medians.values()),
        "slowest": [],
        "languages": {},
    }
    for language in sorted(set(languages.values())):
        mine = {key: value for key, value in medians.items() if languages[key] == language}
        slowest = sorted(mine.items(), key=lambda item: item[1], reverse=True)[:10]
        summary["languages"][language] = {
            "examples": len(mine),
            "median": statistics.median(mine.values()),
            "sum": sum(mine.values()),
            "slowest": [
                {"page": page, "line": line, "seconds": seconds}
                for (page, line), seconds in slowest
            ],
        }
    return summary


def measure(runs: int = 3) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The docs rows, and the details printed below the table."""
    nox_seconds: list[float] = []
    documents: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="handbook-timings-") as scratch:
        # Make sure the docs environment exists (and is up to date) first.
        subprocess.run(
            [*nox_command(), "-s", "docs", "--install-only"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for run in range(runs):
            timings = Path(scratch) / f"run-{run}.json"
            nox_seconds.append(run_nox("docs", timings))
            documents.append(json.loads(timings.read_text(encoding="utf-8")))
        spawn_timings = Path(scratch) / "spawn.json"
        run_nox("docs-spawn", spawn_timings)
        spawned = example_medians([json.loads(spawn_timings.read_text(encoding="utf-8"))])
    summary = summarize(documents)
    forked = example_medians(documents)
    both = forked.keys() & spawned.keys()
    summary["spawn"] = {
        "examples": len(both),
        "median spawn": statistics.median(spawned[key] for key in both),
        "median fork": statistics.median(forked[key] for key in both),
    }
    summary["workers"] = documents[0].get("workers")
    rebuild = rebuild_one_page(runs)
    rows = [
        absolute_row(
            "docs examples, en+zh: median block",
            [summary["median"]],
            MEDIAN_BLOCK_BUDGET,
            baseline=summary["spawn"]["median spawn"],
        ),
        absolute_row(
            "docs examples, en+zh: all verified (wall)",
            [document["seconds"] for document in documents],
            EXAMPLES_TOTAL_BUDGET,
        ),
        absolute_row("nox -s docs, existing environments", nox_seconds, NOX_DOCS_BUDGET),
        absolute_row(f"rebuild after editing {EDITED_PAGE.as_posix()}", rebuild, REBUILD_BUDGET),
    ]
    # The median block is over the per-example medians of all the runs.
    rows[0]["runs"] = runs
    return rows, summary


def describe(summary: dict[str, Any]) -> str:
    """The per-language figures and the slowest examples, as text."""
    spawn = summary["spawn"]
    lines = [
        f"docs examples ({summary['examples']} that ran, {summary['workers']} pytest workers; "
        f"each example's median over the runs):",
        f"  baseline, each example in a new interpreter (nox -s docs-spawn, one run): median "
        f"{spawn['median spawn'] * 1000:.1f} ms against {spawn['median fork'] * 1000:.1f} ms "
        f"over the {spawn['examples']} examples both ran",
    ]
    for language, figures in summary["languages"].items():
        lines.append(
            f"  {language}: {figures['examples']} examples, median "
            f"{figures['median'] * 1000:.1f} ms, sum {figures['sum']:.1f} s; slowest ten:"
        )
        for slow in figures["slowest"]:
            lines.append(f"    {slow['seconds']:6.2f} s  {slow['page']}:{slow['line']}")
    return "\n".join(lines)
