"""pytest-xdist scheduling: the examples that need the same fork server run in one worker.

Each test process starts a fork server for every set of preloaded libraries
it meets (:func:`handbook.runner.fork_server_group`): a new interpreter that
imports them, a tenth of a second for anyio, a quarter for aiohttp.  With
xdist's default scheduling every worker meets nearly every set, so each set's
server started once per worker, about sixty starts for a full run on four
workers.  :class:`ForkServerScheduling` hands out the examples of one set as
one unit of work, largest units first, and every other test (the examples
that need only the common server, the package and tooling tests) one by one,
as xdist's ``load`` does; each set's server then starts once.

The pytest plugin installs it (``pytest_xdist_make_scheduler``) when the run
uses xdist's default ``--dist load`` and the fork runner.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

from handbook.markup import MarkupError, Page, parse_file
from handbook.runner import fork_server_group

__all__ = ["ForkServerScheduling", "example_scope"]

# What sybil names an example: <page>::line:<fence line>,column:<n>
_EXAMPLE_ID = re.compile(r"line:(\d+),column:\d+")


class _Pages:
    """Pages parsed once, by path (None when they cannot be parsed)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pages: dict[str, Page | None] = {}

    def get(self, relative: str) -> Page | None:
        if relative not in self._pages:
            try:
                self._pages[relative] = parse_file(self.root / relative)
            except (MarkupError, OSError, UnicodeDecodeError):
                self._pages[relative] = None
        return self._pages[relative]


def example_scope(nodeid: str, pages: _Pages) -> str:
    """The unit of work ``nodeid`` belongs to: its fork server's group, or itself."""
    path, _, name = nodeid.partition("::")
    found = _EXAMPLE_ID.fullmatch(name)
    if not path.endswith(".md") or found is None:
        return nodeid
    page = pages.get(path)
    if page is None:
        return nodeid
    line = int(found.group(1))
    for example in page.examples:
        if example.line == line:
            chain = example.chain()
            group = fork_server_group(chain[-1].code, [part.code for part in chain[:-1]])
            return nodeid if group is None else group
    return nodeid


class ForkServerScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's scope scheduling, where an example's scope is its fork server's group."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        super().__init__(config, log)
        self._pages = _Pages(Path(str(config.rootpath)))

    def _split_scope(self, nodeid: str) -> str:
        return example_scope(nodeid, self._pages)
