"""Fixtures of the tooling tests: a pytest project of fixture pages."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
# The project's docs/conftest.py: the same plugin the handbook's registers.
CONFTEST = """\
from pathlib import Path

from handbook.pytest_plugin import register


def pytest_configure(config):
    register(config, Path(__file__).parent)
"""

PageProject = Callable[[dict[str, list[str]]], pytest.Pytester]


@pytest.fixture
def page_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> PageProject:
    """Make a project whose docs/<language>/ hold the given fixture pages."""
    shared = str(ROOT / "docs" / "_shared")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [shared, os.environ.get("PYTHONPATH")]))
    )
    # The project's own runs decide what to verify, not the session around them.
    for name in ("CI", "HANDBOOK_VERIFY_ALL", "HANDBOOK_VERIFIED_RECORD", "PYTEST_XDIST_WORKER"):
        monkeypatch.delenv(name, raising=False)

    def make(pages: dict[str, list[str]]) -> pytest.Pytester:
        docs = pytester.mkdir("docs")
        (docs / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        for language, names in pages.items():
            (docs / language).mkdir()
            for name in names:
                shutil.copyfile(FIXTURES / name, docs / language / name)
        return pytester

    return make
