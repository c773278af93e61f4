"""Deciding pass, fail or skip for one example (DESIGN §3).

:func:`evaluate_example` takes a parsed example (:class:`handbook.markup.Example`),
skips it with a visible reason when it cannot run here (version gate, skip
marker, a service this session does not have), starts what its services give
it, runs it (:mod:`handbook.runner`) and compares what it printed
(:mod:`handbook.checking`).  It returns None for a pass, else the message
saying what is wrong.
"""

from __future__ import annotations

import contextlib
import os
import platform

import pytest
from packaging.specifiers import SpecifierSet

from handbook.checking import compare
from handbook.config import SERVICES
from handbook.markup import Example
from handbook.runner import RunResult, run_code
from handbook.services import available_services, provider_for, service_problems

__all__ = ["check_result", "evaluate_example", "skip_reason"]

_PYTHON_VERSION = platform.python_version()


def evaluate_example(example: Example) -> str | None:
    """Run one example; None when it passes, else a message saying why not.

    Raises pytest's skip exception, with the reason, when it cannot run here.
    """
    chain = example.chain()
    for part in reversed(chain):
        reason = skip_reason(part)
        if reason is not None:
            # Report the skip at the example's page and line, not at this module.
            raise pytest.skip.Exception(reason, _use_item_location=True)
    prelude = [earlier.code for earlier in chain[:-1]]
    with contextlib.ExitStack() as instances:
        env: dict[str, str] = {}
        for name in sorted({part.service for part in chain if part.service}):
            provider = provider_for(SERVICES[name])
            env.update(instances.enter_context(provider.example(os.environ)))
        result = run_code(example.code, prelude=prelude, env=env)
    return check_result(example, result)


def skip_reason(example: Example) -> str | None:
    """Why ``example`` cannot run in this session, or None when it can."""
    if example.requires_python and not SpecifierSet(example.requires_python).contains(
        _PYTHON_VERSION
    ):
        return f"version gate: needs Python {example.requires_python}"
    if example.skip_reason:
        return f"skip marker: {example.skip_reason}"
    if example.service and example.service not in available_services():
        problem = service_problems().get(example.service)
        if problem:
            return f"service: needs {example.service}, which cannot start here: {problem}"
        return (
            f"service: needs {example.service}, which this test session did not start "
            "(nox -s tests and nox -s docs start the services that are installed)"
        )
    return None


def check_result(example: Example, result: RunResult) -> str | None:
    """Compare a run with the page: None when it passes, else every problem found."""
    where = f"{example.path}:{example.line}"
    python = f"Python {_PYTHON_VERSION}"
    problems: list[str] = []
    if result.timed_out:
        problems.append(
            f"{where}: the example did not finish within its time bound and was killed "
            f"({result.duration:.1f} s on {python}). Bound every wait; see the "
            "contributing page.\nOutput so far:\n" + _indent(result.output)
        )
    if result.leaks:
        problems.append(
            f"{where}: the example left things behind at exit on {python}:\n"
            + "\n".join(f"  - {leak}" for leak in result.leaks)
        )
    if example.output is None:
        if result.output.strip():
            problems.append(
                f"{where}: the example printed output but has no output block after it "
                f"({python}). It printed:\n" + _indent(result.output)
            )
    elif not result.timed_out:
        diff = compare(
            example.output.code,
            result.output,
            first_line=example.output.content_line,
            expected_label=f"expected: output block at {example.path}:{example.output.line}",
            actual_label=f"actual: what the example at {where} printed on {python}",
        )
        if diff is not None:
            problems.append(
                f"{where}: output differs from the output block at line "
                f"{example.output.line}.\n{diff}"
            )
    return "\n\n".join(problems) or None


def _indent(text: str) -> str:
    return (
        "\n".join("    " + line for line in text.rstrip("\n").split("\n"))
        if text
        else "    (nothing)"
    )
