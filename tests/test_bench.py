"""The docs benchmark's arithmetic, and the timings the docs test session writes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load(name: str) -> ModuleType:
    """A module of benchmarks/, by path (``docs`` would be the docs directory)."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "benchmarks" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_docs = load("docs")
bench_run = load("run")


def example(page: str, line: int, seconds: float, outcome: str = "passed") -> dict[str, object]:
    language = page.split("/")[1]
    return {
        "page": page,
        "line": line,
        "language": language,
        "seconds": seconds,
        "outcome": outcome,
    }


def test_each_example_counts_once_with_its_median_over_the_runs() -> None:
    runs = [
        {"examples": [example("docs/en/a.md", 3, 0.010), example("docs/zh/a.md", 3, 0.030)]},
        {"examples": [example("docs/en/a.md", 3, 0.050), example("docs/zh/a.md", 3, 0.020)]},
        {
            "examples": [
                example("docs/en/a.md", 3, 0.020),
                example("docs/zh/a.md", 3, 0.040),
                example("docs/en/b.md", 9, 9.0, outcome="skipped"),
            ]
        },
    ]
    summary = bench_docs.summarize(runs)
    assert summary["examples"] == 2  # the skipped one is not an example that ran
    assert summary["median"] == pytest.approx((0.020 + 0.030) / 2)
    assert summary["languages"]["en"]["slowest"] == [
        {"page": "docs/en/a.md", "line": 3, "seconds": 0.020}
    ]
    assert summary["languages"]["zh"]["median"] == pytest.approx(0.030)


def test_rows_pass_or_fail_against_their_budget() -> None:
    row = bench_docs.absolute_row("x", [0.04, 0.06, 0.05], 0.05)
    assert row["measured"] == 0.05
    assert row["passed"]
    assert not bench_docs.absolute_row("x", [0.06], 0.05)["passed"]
    with_baseline = bench_docs.absolute_row("x", [0.03], 0.05, baseline=0.12)
    assert with_baseline["ratio"] == pytest.approx(0.25)
    table = bench_run.table([row, with_baseline])
    assert "<= 50.0 ms" in table
    assert "120.0 ms" in table


def test_the_docs_session_writes_each_examples_time(tmp_path: Path) -> None:
    timings = tmp_path / "timings.json"
    page = "docs/en/faq/aclose-twice.md"
    env = dict(os.environ, HANDBOOK_TIMINGS=str(timings))
    env.pop("PYTEST_XDIST_WORKER", None)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", page, "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document = json.loads(timings.read_text(encoding="utf-8"))
    assert document["seconds"] > 0
    [entry] = document["examples"]
    assert entry["page"] == page
    assert entry["language"] == "en"
    assert entry["outcome"] == "passed"
    assert isinstance(entry["line"], int)
    assert 0 < entry["seconds"] < document["seconds"]
