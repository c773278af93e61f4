"""Benchmarks for the docs budgets of DESIGN §9.

Every ``nox -s docs`` below runs in a copy of the working tree (with nox
environments of its own, created before anything is timed), so the bench
neither edits the pages nor touches docs/_build of the tree it measures.
Each of ``--runs`` rounds times three sessions in a row:

* full: ``nox -s docs -- --force`` from an empty build directory: every
  example of both languages verified on one interpreter (the docs
  session's), then both sites built.  Each run writes how long each example
  took (HANDBOOK_TIMINGS), from which come each example's median time, the
  median over all examples, the slowest ten, and the wall-clock time of
  verifying them all;
* nothing changed: ``nox -s docs`` again; incremental verification runs no
  example and Sphinx rebuilds nothing;
* one page edited: a comment line added to every python block of one long
  page, then ``nox -s docs``: that page's examples run again, Sphinx rebuilds
  that page.

Then the same examples once with ``nox -s docs-spawn``, each in a new
interpreter instead of the fork server: its median block is the baseline of
the median-block row.  Last, one edited page rebuilt by Sphinx alone: in a
copy of docs/ (built once first), append a sentence to one page and time
``python -m handbook.build``.

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
from handbook.config import (  # noqa: E402
    CI_VARIABLE,
    NOX_VARIABLE,
    TIMINGS_VARIABLE,
    VERIFY_ALL_VARIABLE,
)
from handbook.markup import parse_file  # noqa: E402

DOCS = ROOT / "docs"
BUILD = DOCS / "_build"
#: The page edited for the one-page rebuild: a long page with many examples.
EDITED_PAGE = Path("en") / "patterns" / "async-generator-cleanup.md"
MEDIAN_BLOCK_BUDGET = 0.050
EXAMPLES_TOTAL_BUDGET = 60.0
NOX_DOCS_BUDGET = 60.0
NOX_DOCS_UNCHANGED_BUDGET = 20.0
NOX_DOCS_EDITED_BUDGET = 25.0
REBUILD_BUDGET = 5.0
# What the copy of the working tree leaves out.
_NOT_COPIED = shutil.ignore_patterns(".git", ".nox", "_build", "results", "__pycache__", ".*_cache")


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


class Tree:
    """A copy of the working tree, with nox environments of its own."""

    def __init__(self, scratch: Path) -> None:
        self.root = scratch / "tree"
        self.envdir = scratch / "nox-environments"
        shutil.copytree(ROOT, self.root, ignore=_NOT_COPIED)

    def nox_arguments(self) -> list[str]:
        return [*nox_command(), "-f", str(self.root / "noxfile.py"), "--envdir", str(self.envdir)]

    def nox(self, session: str, *arguments: str, timings: Path | None = None) -> float:
        """One ``nox -s <session> -- <arguments>`` in the copy; its seconds."""
        env = dict(os.environ)
        # Whatever environment nox -s bench runs in must not leak into nox,
        # and the rows measure a developer's run, not CI's.
        for name in ("VIRTUAL_ENV", "NOX_CURRENT_SESSION", CI_VARIABLE, VERIFY_ALL_VARIABLE):
            env.pop(name, None)
        if timings is not None:
            env[TIMINGS_VARIABLE] = str(timings)
        command = [*self.nox_arguments(), "-s", session]
        if arguments:
            command += ["--", *arguments]
        started = time.perf_counter()
        completed = subprocess.run(
            command,
            cwd=self.root,
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
        _progress(shlex.join(["nox", "-s", session, *arguments]), seconds)
        return seconds

    def python(self, session: str) -> Path:
        """The interpreter of one of the copy's nox environments."""
        return self.envdir / session.replace(".", "-") / "bin" / "python"

    def remove_build(self) -> None:
        shutil.rmtree(self.root / "docs" / "_build", ignore_errors=True)

    def edit_examples(self, page: Path, mark: str) -> int:
        """Add a comment line to the end of every python block of ``page``; how many."""
        path = self.root / "docs" / page
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        blocks = parse_file(path).python_blocks
        for block in reversed(blocks):
            # end_line is the closing fence; the comment goes just above it.
            lines.insert(block.end_line - 1, f"# {mark}\n")
        path.write_text("".join(lines), encoding="utf-8")
        return len(blocks)


def rebuild_one_page(tree: Tree, runs: int) -> list[float]:
    """Seconds to rebuild the site after editing one page, ``runs`` times.

    In a copy of the tree's docs/, with the tree's docs environment.
    """
    copy = tree.root.parent / "rebuild" / "docs"
    shutil.copytree(tree.root / "docs", copy, ignore=_NOT_COPIED)
    env = dict(os.environ, PYTHONPATH=str(copy / "_shared"))
    command = [str(tree.python("docs")), "-m", "handbook.build"]

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
        _progress(f"rebuild after editing {EDITED_PAGE.as_posix()}", seconds[-1])
    return seconds


def _progress(what: str, seconds: float) -> None:
    print(f"  {what}: {seconds:.1f} s (load average {os.getloadavg()[0]:.1f})", file=sys.stderr)


def align_lines(documents: list[dict[str, Any]], reference: dict[str, Any]) -> list[dict[str, Any]]:
    """The documents with each example's line as in ``reference``.

    The one-page edit adds a line to every block of the page, so the same
    example has another line in later rounds; it is the same example by its
    place on the page (the edit adds and removes none).
    """
    lines: dict[str, list[int]] = {}
    for example in reference["examples"]:
        lines.setdefault(example["page"], []).append(example["line"])
    for page_lines in lines.values():
        page_lines.sort()
    aligned = []
    for document in documents:
        per_page: dict[str, list[dict[str, Any]]] = {}
        for example in document["examples"]:
            per_page.setdefault(example["page"], []).append(example)
        examples = []
        for page, found in per_page.items():
            found = sorted(found, key=lambda example: example["line"])
            original = lines.get(page, [])
            if len(original) == len(found):
                pairs = zip(found, original, strict=True)
                found = [{**example, "line": line} for example, line in pairs]
            examples += found
        aligned.append({**document, "examples": examples})
    return aligned


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
    full: list[float] = []
    unchanged: list[float] = []
    edited: list[float] = []
    documents: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="handbook-bench-tree-") as scratch:
        tree = Tree(Path(scratch))
        # The environments exist before anything is timed.
        subprocess.run(
            [*tree.nox_arguments(), "-s", "docs", "docs-spawn", "--install-only"],
            cwd=tree.root,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for run in range(runs):
            timings = Path(scratch) / f"run-{run}.json"
            tree.remove_build()
            full.append(tree.nox("docs", "--force", timings=timings))
            documents.append(json.loads(timings.read_text(encoding="utf-8")))
            unchanged.append(tree.nox("docs"))
            tree.edit_examples(EDITED_PAGE, f"edit {run + 1}")
            edited.append(tree.nox("docs"))
        spawn_timings = Path(scratch) / "spawn.json"
        tree.nox("docs-spawn", timings=spawn_timings)
        spawn_document = json.loads(spawn_timings.read_text(encoding="utf-8"))
        # Every round's examples named by their lines in the unedited pages.
        documents = align_lines(documents, documents[0])
        spawned = example_medians(align_lines([spawn_document], documents[0]))
        edited_examples = len(parse_file(tree.root / "docs" / EDITED_PAGE).python_blocks)
        rebuild = rebuild_one_page(tree, runs)
    summary = summarize(documents)
    forked = example_medians(documents)
    both = forked.keys() & spawned.keys()
    summary["spawn"] = {
        "examples": len(both),
        "median spawn": statistics.median(spawned[key] for key in both),
        "median fork": statistics.median(forked[key] for key in both),
    }
    summary["workers"] = documents[0].get("workers")
    summary["edited examples"] = edited_examples
    page = EDITED_PAGE.as_posix()
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
        absolute_row("nox -s docs -- --force, empty build directory", full, NOX_DOCS_BUDGET),
        absolute_row("nox -s docs, nothing changed", unchanged, NOX_DOCS_UNCHANGED_BUDGET),
        absolute_row(
            f"nox -s docs, {edited_examples} examples of {page} edited",
            edited,
            NOX_DOCS_EDITED_BUDGET,
        ),
        absolute_row(f"rebuild after editing {page}", rebuild, REBUILD_BUDGET),
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
