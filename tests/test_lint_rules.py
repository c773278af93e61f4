"""The lint rules named on misconception pages catch the pages' own snippets.

A misconception page that names a ruff or flake8-async rule shows the mistake
("wrong" snippet) and the fix ("right" snippet). For each such rule and each
language, the rule must fire on the wrong snippet and stay silent on the right
one, so the page's claim about the linter is checked like its examples are.

Snippets are found by the function they define (``def <name>(``), not by
position, so reordering a page does not silently test the wrong block.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from handbook.markup import parse_file

DOCS = Path(__file__).resolve().parents[1] / "docs"
LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Rule:
    page: str  # relative to docs/<language>/
    linter: str  # "ruff" or "flake8-async"
    code: str
    wrong: str  # a function defined only by the wrong snippet
    right: str  # a function defined only by the right snippet


SLEEP = "misconceptions/sleep-cannot-be-cancelled.md"
BASE_EXCEPTION = "misconceptions/catching-baseexception-is-harmless.md"
ACLOSE_ERRORS = "misconceptions/swallowing-aclose-errors.md"
OTHER_TASK = "misconceptions/finalising-in-another-task-is-harmless.md"
TASKS_AT_EXIT = "misconceptions/tasks-never-cancelled-at-exit.md"
SILENCING = "misconceptions/silencing-generatorexit-stops-the-work.md"

RULES = (
    Rule(SLEEP, "ruff", "ASYNC251", "nap_blocking", "worker"),
    Rule(SLEEP, "flake8-async", "ASYNC251", "nap_blocking", "worker"),
    Rule(SLEEP, "ruff", "ASYNC110", "worker_polling", "worker"),
    Rule(BASE_EXCEPTION, "flake8-async", "ASYNC103", "fetch_wrong", "fetch"),
    Rule(BASE_EXCEPTION, "flake8-async", "ASYNC104", "fetch_wrong", "fetch"),
    Rule(ACLOSE_ERRORS, "flake8-async", "ASYNC103", "close_quietly", "read_one"),
    Rule(OTHER_TASK, "flake8-async", "ASYNC119", "consume_and_drop", "consume_and_close"),
    Rule(OTHER_TASK, "flake8-async", "ASYNC101", "consume_and_drop", "consume_and_close"),
    Rule(OTHER_TASK, "ruff", "ASYNC119", "consume_and_drop", "consume_and_close"),
    Rule(TASKS_AT_EXIT, "ruff", "RUF006", "checkout_and_forget", "checkout"),
    Rule(TASKS_AT_EXIT, "flake8-async", "ASYNC300", "checkout_and_forget", "checkout"),
    Rule(SILENCING, "ruff", "RUF006", "answer_silenced", "answer"),
    Rule(SILENCING, "flake8-async", "ASYNC300", "answer_silenced", "answer"),
)


def snippet(page: Path, function: str) -> str:
    """The code of the one python block on ``page`` that defines ``function``."""
    definition = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(function)}\s*\(", re.MULTILINE)
    blocks = [block for block in parse_file(page).python_blocks if definition.search(block.code)]
    lines = ", ".join(str(block.line) for block in blocks)
    assert len(blocks) == 1, (
        f"{page}: expected one python block defining {function}(), found {len(blocks)} ({lines})"
    )
    return blocks[0].code


def run_ruff(paths: list[Path], codes: str) -> dict[Path, set[str]]:
    pytest.importorskip("ruff")
    # --isolated: the project's own ruff settings must not change the verdict;
    # --preview: some ASYNC rules (ASYNC119) are still preview rules in ruff.
    command = [sys.executable, "-m", "ruff", "check", "--isolated", "--preview", "--no-cache"]
    command += ["--select", codes, "--output-format", "json", *map(str, paths)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), f"ruff failed:\n{result.stdout}{result.stderr}"
    found: dict[Path, set[str]] = {path: set() for path in paths}
    for violation in json.loads(result.stdout):
        found[Path(violation["filename"])].add(violation["code"])
    return found


def run_flake8_async(paths: list[Path], codes: str) -> dict[Path, set[str]]:
    pytest.importorskip("flake8_async")
    command = [sys.executable, "-m", "flake8_async", "--enable", codes, *map(str, paths)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), f"flake8-async failed:\n{result.stdout}{result.stderr}"
    assert not result.stderr, f"flake8-async failed:\n{result.stderr}"
    found: dict[Path, set[str]] = {path: set() for path in paths}
    for filename, code in re.findall(r"^(.+?):\d+:\d+: (ASYNC\d+)", result.stdout, re.MULTILINE):
        found[Path(filename)].add(code)
    return found


LINTERS = {"ruff": run_ruff, "flake8-async": run_flake8_async}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], set[str]]:
    """``(linter, snippet code)`` -> the rules that linter reports on it.

    Every snippet goes through each linter in one run, with every rule this
    file checks for that linter enabled: starting a linter costs far more
    than checking a snippet.
    """
    workdir = tmp_path_factory.mktemp("snippets")
    results: dict[tuple[str, str], set[str]] = {}
    for linter, run in LINTERS.items():
        rules = [rule for rule in RULES if rule.linter == linter]
        files: dict[str, Path] = {}
        for rule in rules:
            for language in LANGUAGES:
                for function in (rule.wrong, rule.right):
                    code = snippet(DOCS / language / rule.page, function)
                    if code not in files:
                        files[code] = workdir / f"{linter}_{len(files)}.py"
                        files[code].write_text(code, encoding="utf-8")
        found = run(list(files.values()), ",".join(sorted({rule.code for rule in rules})))
        results.update({(linter, code): found[path] for code, path in files.items()})
    return results


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "rule", RULES, ids=[f"{Path(rule.page).stem}-{rule.linter}-{rule.code}" for rule in RULES]
)
def test_rule_fires_on_wrong_and_not_on_right(
    rule: Rule, language: str, findings: dict[tuple[str, str], set[str]]
) -> None:
    page = DOCS / language / rule.page

    wrong = findings[rule.linter, snippet(page, rule.wrong)]
    assert rule.code in wrong, (
        f"{page}: {rule.linter} {rule.code} does not fire on the snippet defining {rule.wrong}()"
    )

    right = findings[rule.linter, snippet(page, rule.right)]
    assert rule.code not in right, (
        f"{page}: {rule.linter} {rule.code} fires on the snippet defining {rule.right}()"
    )
