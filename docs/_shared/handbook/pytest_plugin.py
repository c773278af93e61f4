"""The pytest side of the examples: collection, the summary and timings (DESIGN §3).

A conftest.py registers :class:`ExamplesPlugin` for the directory holding the
language trees (``<docs>/en``, ``<docs>/zh``)::

    def pytest_configure(config):
        register(config, Path(__file__).parent)

docs/conftest.py does it for the handbook; the tooling tests do it for a
directory of fixture pages.  The plugin

* makes every python block of every page a test item (through sybil, see
  :mod:`handbook.sybil_collector`), with ids that name the page and line;
* reports skips at the example's page and line;
* prints a summary per language: how many examples ran, passed, failed and
  were skipped and why, and how many pages could not be parsed;
* writes each example's time to the file named by HANDBOOK_TIMINGS;
* under pytest-xdist, sends the examples that share a fork server to one
  worker (:mod:`handbook.scheduling`);
* with HANDBOOK_VERIFIED_RECORD set (``nox -s docs`` sets it), verifies
  incrementally: an example whose inputs are those of a recorded pass is
  deselected, and the passes of this run are recorded
  (:mod:`handbook.incremental`, DESIGN §8).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from handbook.config import LANGUAGES, TIMINGS_VARIABLE
from handbook.incremental import Record, example_key, record_path, session_inputs, verify_all
from handbook.markup import Example as PageExample
from handbook.runner import runner
from handbook.sybil_collector import example_sybils

__all__ = ["PLUGIN_NAME", "ExamplesPlugin", "register"]

PLUGIN_NAME = "handbook-examples"
# user_properties the workers attach to reports for the controller.
_LANGUAGE = "handbook-language"
_PAGE_ERROR = "handbook-page-error"
_EXAMPLE_LINE = "handbook-line"
_KEY = "handbook-key"
_PAGE = "handbook-page"
# What an xdist worker tells the controller about the examples it deselected.
_WORKER_UNCHANGED = "handbook_unchanged"


def register(config: pytest.Config, docs: Path) -> None:
    """Collect the examples of the pages under ``docs/<language>`` in this test run."""
    # An example runs as it would from a terminal, where SIGINT raises
    # KeyboardInterrupt.  A test run started in the background of a script
    # inherits SIGINT ignored, and an exec'd child keeps an ignored signal
    # (but resets a handled one): handle it here, so examples start with the
    # default again.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(ExamplesPlugin(docs), PLUGIN_NAME)


class ExamplesPlugin:
    """The hooks; one instance per test process."""

    def __init__(self, docs: Path) -> None:
        self.docs = docs
        self._collect = example_sybils(docs, LANGUAGES).pytest()
        self._outcomes: Counter[tuple[str, str]] = Counter()
        self._timings: list[dict[str, Any]] = []
        self._started = time.perf_counter()
        # Incremental verification.
        path = record_path()
        self._record = Record(path) if path is not None else None
        self._verify_all = verify_all()
        self._keys: dict[str, tuple[str, str]] = {}  # nodeid -> (key, page)
        self._unchanged: dict[str, tuple[str, str]] = {}  # key -> (page, language)
        self._passed: dict[str, str] = {}
        self._not_passed: set[str] = set()

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> Any:
        return self._collect(file_path, parent)

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Key every example; leave out those the record says passed with these inputs."""
        if self._record is None:
            return
        inputs = session_inputs()
        base = Path(str(config.rootpath))
        kept: list[pytest.Item] = []
        deselected: list[pytest.Item] = []
        for item in items:
            parsed = getattr(getattr(item, "example", None), "parsed", None)
            language = self._language(item)
            if not isinstance(parsed, PageExample) or language is None:
                kept.append(item)
                continue
            page = item.path.resolve().relative_to(base.resolve()).as_posix()
            key = example_key(parsed, page, inputs)
            self._keys[item.nodeid] = (key, page)
            if key in self._record and not self._verify_all:
                self._unchanged[key] = (page, language)
                deselected.append(item)
            else:
                kept.append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """pytest-xdist: examples that share a fork server run in one worker.

        Only in place of xdist's default ``--dist load``; see
        :mod:`handbook.scheduling`.
        """
        if config.getvalue("dist") != "load" or runner() != "fork":
            return None
        from handbook.scheduling import ForkServerScheduling

        return ForkServerScheduling(config, log)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: the controller learns what a worker left out as unchanged."""
        unchanged = getattr(node, "workeroutput", {}).get(_WORKER_UNCHANGED, {})
        for key, (page, language) in unchanged.items():
            self._unchanged[key] = (page, language)

    def _language(self, item: pytest.Item) -> str | None:
        try:
            relative = item.path.resolve().relative_to(self.docs.resolve())
        except ValueError:
            return None
        return relative.parts[0] if relative.parts[0] in LANGUAGES else None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        example = getattr(item, "example", None)
        language = self._language(item)
        if example is None or language is None:
            return report
        report.user_properties.append((_LANGUAGE, language))
        if item.nodeid in self._keys:
            key, page = self._keys[item.nodeid]
            report.user_properties += [(_KEY, key), (_PAGE, page)]
        if isinstance(example.parsed, PageExample):
            report.user_properties.append((_EXAMPLE_LINE, example.parsed.line))
            if report.skipped and isinstance(report.longrepr, tuple):
                # Name the page and the line of the block (pytest would add one to it).
                path, _, reason = report.longrepr
                report.longrepr = (path, example.line, reason)
        else:
            # Not an example: the page itself could not be parsed.
            report.user_properties.append((_PAGE_ERROR, True))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        language = properties.get(_LANGUAGE)
        if not isinstance(language, str):
            return
        key, page = properties.get(_KEY), properties.get(_PAGE)
        if isinstance(key, str) and isinstance(page, str):
            if report.when == "call" and report.passed:
                self._passed[key] = page
            elif not report.passed:
                self._not_passed.add(key)
        line = properties.get(_EXAMPLE_LINE)
        if report.when == "call" and line is not None:
            self._timings.append(
                {
                    "page": report.nodeid.partition("::")[0],
                    "line": line,
                    "language": language,
                    "seconds": report.duration,
                    "outcome": report.outcome,
                }
            )
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            outcome: str = report.outcome
            if properties.get(_PAGE_ERROR):
                outcome = "page-error"
            elif outcome == "skipped":
                reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
                reason = reason.removeprefix("Skipped: ")
                outcome = "skipped (" + reason.split(":", 1)[0] + ")"
            self._outcomes[(language, outcome)] += 1

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self._outcomes and not self._unchanged:
            return
        terminalreporter.section("docs examples")
        for language in LANGUAGES:
            counts = {
                outcome: n for (lang, outcome), n in self._outcomes.items() if lang == language
            }
            broken = counts.pop("page-error", 0)
            ran = counts.get("passed", 0) + counts.get("failed", 0)
            detail = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            line = f"{language}: {ran} examples ran ({detail or 'none'})"
            unchanged = sum(1 for _, lang in self._unchanged.values() if lang == language)
            if unchanged:
                line += f"; {unchanged} unchanged since they passed"
            if broken:
                line += f"; {broken} page(s) could not be parsed"
            terminalreporter.write_line(line)
        if self._record is not None:
            where = self._record.path
            if self._unchanged:
                terminalreporter.write_line(
                    f"{len(self._unchanged)} examples passed before with the same inputs and "
                    f"did not run (recorded in {where}; nox -s docs -- --force runs them all)"
                )
            else:
                terminalreporter.write_line(f"every example ran; passes are recorded in {where}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # With pytest-xdist, only the controller (no workerinput) has every report.
        if hasattr(session.config, "workerinput"):
            output = getattr(session.config, "workeroutput", None)
            if output is not None:
                output[_WORKER_UNCHANGED] = self._unchanged
            return
        if self._record is not None:
            self._record.update(
                self._passed,
                {key: page for key, (page, _) in self._unchanged.items()},
                self._not_passed,
                Path(str(session.config.rootpath)),
            )
            if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and self._unchanged:
                # Nothing needed to run: every example passed before.
                session.exitstatus = pytest.ExitCode.OK
        path = os.environ.get(TIMINGS_VARIABLE)
        if path:
            document = {
                "seconds": time.perf_counter() - self._started,
                "workers": getattr(session.config.option, "numprocesses", None),
                "examples": self._timings,
            }
            Path(path).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
