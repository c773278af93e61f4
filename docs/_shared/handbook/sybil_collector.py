"""Sybil side of the examples: each page's examples become sybil regions.

Parsing is :mod:`handbook.markup`'s job and deciding pass, fail or skip is
:mod:`handbook.verify`'s; this module only hands sybil one region per
example (or one failing region for a page that cannot be parsed).  The pytest
hooks around it are in :mod:`handbook.pytest_plugin`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from sybil import Document, Example, Region, Sybil
from sybil.sybil import SybilCollection

from handbook.config import LANGUAGES
from handbook.markup import MarkupError, parse_text
from handbook.verify import evaluate_example

__all__ = ["example_sybils", "parse_document"]


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
        yield Region(0, 0, str(error), _report_markup_error)
        return
    offsets = _line_offsets(document.text)
    for example in page.examples:
        end_line = (example.output or example.block).end_line
        start = offsets[example.line - 1]
        end = offsets[min(end_line, len(offsets) - 1)]
        yield Region(start, end, example, _evaluate)


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def _evaluate(region_example: Example) -> str | None:
    return evaluate_example(region_example.parsed)


def _report_markup_error(region_example: Example) -> str:
    return f"The page cannot be parsed:\n{region_example.parsed}"
