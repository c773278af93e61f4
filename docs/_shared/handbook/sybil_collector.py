"""Sybil side of the examples: turn each page's examples into test items.

Parsing is :mod:`handbook.markup`'s job, running is :mod:`handbook.runner`'s
and comparing is :mod:`handbook.checking`'s; this module only connects them to
sybil and pytest, and decides pass, fail or skip for each example.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from sybil import Document, Example, Region, Sybil
from sybil.sybil import SybilCollection

from handbook.checking import compare
from handbook.config import LANGUAGES, SERVICES_VARIABLE
from handbook.markup import Example as PageExample
from handbook.markup import MarkupError, parse_text
from handbook.runner import RunResult, run_code
from handbook.services import ADMIN_DSN_VARIABLE, postgres_database

__all__ = ["available_services", "example_sybils", "parse_document"]

_PYTHON_VERSION = platform.python_version()


def available_services() -> set[str]:
    return {
        name.strip() for name in os.environ.get(SERVICES_VARIABLE, "").split(",") if name.strip()
    }


def example_sybils(root: Path, languages: Iterable[str] = LANGUAGES) -> SybilCollection:
    """The Sybils that collect every example of every page under ``root/<language>``."""
    sybils = [
        Sybil(parsers=[parse_document], patterns=["*.md"], path=str(root / language))
        for language in languages
    ]
    return SybilCollection(sybils)


def _display_path(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def parse_document(document: Document) -> Iterator[Region]:
    """Sybil parser: one region per example, or one failing region per page."""
    path = _display_path(document.path)
    try:
        page = parse_text(document.text, path)
    except MarkupError as error:
        # The page fails as one item; the other pages still run.
        message = str(error)
        yield Region(0, 0, message, _report_markup_error)
        return
    offsets = _line_offsets(document.text)
    for example in page.examples:
        end_line = (example.output or example.block).end_line
        start = offsets[example.line - 1]
        end = offsets[min(end_line, len(offsets) - 1)]
        yield Region(start, end, example, evaluate_example)


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def _report_markup_error(example: Example) -> str:
    return f"The page cannot be parsed:\n{example.parsed}"


def evaluate_example(sybil_example: Example) -> str | None:
    """Run one example; None when it passes, else a message saying why not."""
    example: PageExample = sybil_example.parsed
    _skip_if_not_runnable(example)
    chain = example.chain()
    for earlier in chain[:-1]:
        _skip_if_not_runnable(earlier)
    prelude = [earlier.code for earlier in chain[:-1]]
    with contextlib.ExitStack() as services:
        env = {}
        if any(part.service == "postgres" for part in chain):
            admin_dsn = os.environ[ADMIN_DSN_VARIABLE]
            env["DATABASE_URL"] = services.enter_context(postgres_database(admin_dsn))
        result = run_code(example.code, prelude=prelude, env=env)
    return check_result(example, result)


def _skip_if_not_runnable(example: PageExample) -> None:
    if example.requires_python and not SpecifierSet(example.requires_python).contains(
        _PYTHON_VERSION
    ):
        _skip(f"version gate: needs Python {example.requires_python}")
    if example.skip_reason:
        _skip(f"skip marker: {example.skip_reason}")
    if example.service and example.service not in available_services():
        _skip(f"service: needs {example.service}, which this test session did not start")


def _skip(reason: str) -> None:
    # Report the skip at the example's page and line, not at this module.
    raise pytest.skip.Exception(reason, _use_item_location=True)


def check_result(example: PageExample, result: RunResult) -> str | None:
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
