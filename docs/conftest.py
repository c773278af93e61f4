"""Every python block of every page is a test item (DESIGN §3).

The example tooling lives in docs/_shared/handbook; pytest's ``pythonpath``
setting puts it on sys.path.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from handbook.config import LANGUAGES, TIMINGS_VARIABLE
from handbook.sybil_collector import example_sybils

DOCS = Path(__file__).parent

pytest_collect_file = example_sybils(DOCS, LANGUAGES).pytest()

_outcomes: Counter[tuple[str, str]] = Counter()
_timings: list[dict[str, Any]] = []
_started = time.perf_counter()
_EXAMPLE_ID = re.compile(r"^(?P<page>.+\.md)::line:(?P<line>\d+),column:\d+$")


def _language(nodeid: str) -> str | None:
    for language in LANGUAGES:
        if f"docs/{language}/" in nodeid:
            return language
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    example = getattr(item, "example", None)
    if example is not None and report.skipped and isinstance(report.longrepr, tuple):
        # Name the page and the line of the block (pytest would add one to it).
        path, _, reason = report.longrepr
        report.longrepr = (path, example.line, reason)
    if example is not None and isinstance(example.parsed, str):
        # Not an example: the page itself could not be parsed.
        report.user_properties.append(("handbook", "page-error"))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    language = _language(report.nodeid)
    if language is None:
        return
    match = _EXAMPLE_ID.match(report.nodeid)
    if report.when == "call" and match:
        _timings.append(
            {
                "page": match["page"],
                "line": int(match["line"]),
                "language": language,
                "seconds": report.duration,
                "outcome": report.outcome,
            }
        )
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = report.outcome
        if ("handbook", "page-error") in report.user_properties:
            outcome = "page-error"
        if outcome == "skipped":
            reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
            reason = reason.removeprefix("Skipped: ")
            outcome = "skipped (" + reason.split(":", 1)[0] + ")"
        _outcomes[(language, outcome)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _outcomes:
        return
    terminalreporter.section("docs examples")
    for language in LANGUAGES:
        counts = {outcome: n for (lang, outcome), n in _outcomes.items() if lang == language}
        broken = counts.pop("page-error", 0)
        ran = counts.get("passed", 0) + counts.get("failed", 0)
        detail = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        line = f"{language}: {ran} examples ran ({detail or 'none'})"
        if broken:
            line += f"; {broken} page(s) could not be parsed"
        terminalreporter.write_line(line)


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started
    _started = time.perf_counter()


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(TIMINGS_VARIABLE)
    # With pytest-xdist, only the controller (no workerinput) has every report.
    if not path or hasattr(session.config, "workerinput"):
        return
    document = {
        "seconds": time.perf_counter() - _started,
        "workers": getattr(session.config.option, "numprocesses", None),
        "examples": _timings,
    }
    Path(path).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
