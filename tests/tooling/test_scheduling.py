"""The examples that need the same fork server are one unit of work for pytest-xdist."""

from __future__ import annotations

from pathlib import Path

import pytest
from handbook.config import RUNNER_VARIABLE

pytest.importorskip("xdist")

from handbook.scheduling import _Pages, example_scope

FENCE = "```"
PAGE = f"""\
# A page

{FENCE}python
import asyncio

print("common")
{FENCE}

{FENCE}python
import aiohttp

print("aiohttp")
{FENCE}

{FENCE}python
import anyio

print("anyio")
{FENCE}

% continued
{FENCE}python
import aiohttp

print("both")
{FENCE}
"""


@pytest.fixture
def pages(tmp_path: Path) -> _Pages:
    (tmp_path / "docs" / "en").mkdir(parents=True)
    (tmp_path / "docs" / "en" / "page.md").write_text(PAGE, encoding="utf-8")
    (tmp_path / "docs" / "en" / "broken.md").write_text(f"{FENCE}python\n", encoding="utf-8")
    return _Pages(tmp_path)


def line_of(text: str) -> int:
    return PAGE.splitlines().index(text) + 1 - 3  # the fence, three lines above


@pytest.mark.parametrize(
    ("printed", "scope"),
    [
        ('print("common")', None),
        ('print("aiohttp")', "fork-server-aiohttp"),
        ('print("anyio")', "fork-server-anyio"),
        # A continued example runs with the blocks it continues.
        ('print("both")', "fork-server-aiohttp+anyio"),
    ],
)
def test_an_example_belongs_to_its_fork_servers_group(
    pages: _Pages, printed: str, scope: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RUNNER_VARIABLE, raising=False)
    nodeid = f"docs/en/page.md::line:{line_of(printed)},column:1"
    assert example_scope(nodeid, pages) == (scope or nodeid)


@pytest.mark.parametrize(
    "nodeid",
    [
        "tests/package/test_tasks.py::test_something",
        "docs/en/broken.md::line:1,column:1",
        "docs/en/missing.md::line:1,column:1",
        "docs/en/page.md::line:2,column:1",
    ],
    ids=["not an example", "page that cannot be parsed", "no such page", "no example there"],
)
def test_everything_else_is_a_unit_of_its_own(pages: _Pages, nodeid: str) -> None:
    assert example_scope(nodeid, pages) == nodeid


def test_under_the_spawn_runner_nothing_is_grouped(
    pages: _Pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RUNNER_VARIABLE, "spawn")
    line = line_of('print("aiohttp")')
    nodeid = f"docs/en/page.md::line:{line},column:1"
    assert example_scope(nodeid, pages) == nodeid
