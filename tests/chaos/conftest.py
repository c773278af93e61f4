"""The chaos test's seed, shared by every worker, and its figures in the summary."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any

import pytest

SEED_VARIABLE = "AIOCLEANUP_CHAOS_SEED"
_figures: list[dict[str, Any]] = []


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "aiocleanup_chaos_seed" in workerinput:
        seed = workerinput["aiocleanup_chaos_seed"]
    else:
        seed = os.environ.get(SEED_VARIABLE) or str(random.SystemRandom().randrange(10**9))
    config.stash[_SEED] = seed


_SEED = pytest.StashKey[str]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker draws with the controller's seed."""
    node.workerinput["aiocleanup_chaos_seed"] = node.config.stash[_SEED]


@pytest.fixture(scope="session")
def chaos_seed(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[_SEED]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == "chaos":
            _figures.append(json.loads(str(value)))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _figures:
        return
    write = terminalreporter.write_line
    terminalreporter.section("aiocleanup chaos")
    seed = config.stash[_SEED]
    write(f"seed {seed}: repeat with {SEED_VARIABLE}={seed} pytest tests/chaos")
    totals: Counter[str] = Counter()
    for figures in sorted(_figures, key=lambda f: (f["shape"], f["kind"])):
        jobs, requests = figures["jobs"], figures["requests"]
        line = (
            f"{figures['shape']:8} {figures['kind']:14} {figures['runs']:4} runs "
            f"{figures['signals']:4} signals  status {_statuses(figures['statuses'])}"
            f"  forced {figures['forced']}"
        )
        if figures["late_signal"]:
            line += (
                f"  ended by the second SIGTERM after the shutdown {figures['late_signal']} "
                f"({figures['late_signal_before_result']} before they sent their result)"
            )
        if jobs:
            line += (
                f"  jobs done {jobs.get('done', 0)}, requeued {jobs.get('requeued', 0)}, "
                f"lost {jobs.get('lost', 0)}, duplicated {jobs.get('duplicated', 0)}"
            )
        if requests:
            line += (
                f"  requests completed {requests.get('completed', 0)}, refused "
                f"{requests.get('refused 503', 0)} with 503 and "
                f"{requests.get('connection refused', 0)} at connect, closed unseen "
                f"{requests.get('dropped unseen', 0)}, cut off {requests.get('cut off', 0)}"
            )
            unexpected = sum(n for name, n in requests.items() if name.startswith("unexpected"))
            totals.update(unexpected=unexpected)
        write(line)
        totals.update(
            runs=figures["runs"],
            signals=figures["signals"],
            failed=figures["failed_runs"],
            lost=jobs.get("lost", 0),
            duplicated=jobs.get("duplicated", 0),
            mismatched=jobs.get("mismatched", 0),
            requests=sum(n for name, n in requests.items()),
            mismatched_requests=figures["mismatched_requests"],
        )
    write(
        f"total: {totals['runs']} runs, {totals['signals']} signals; "
        f"{totals['lost']} jobs lost, {totals['duplicated']} duplicated, "
        f"{totals['mismatched']} mismatched; {totals['requests']} requests, "
        f"{totals['mismatched_requests']} mismatched, {totals['unexpected']} unexpected "
        f"answers; {totals['failed']} runs with a problem"
    )


def _statuses(statuses: dict[str, int]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
