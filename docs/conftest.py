"""Every python block of every page is a test item (DESIGN §3).

The example tooling lives in docs/_shared/handbook; pytest's ``pythonpath``
setting puts it on sys.path.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from handbook.sybil_collector import example_sybils

DOCS = Path(__file__).parent
LANGUAGES = ("en", "zh")

pytest_collect_file = example_sybils(DOCS, LANGUAGES).pytest()

_outcomes: Counter[tuple[str, str]] = Counter()


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
