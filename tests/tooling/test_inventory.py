"""The offline Python inventory gives each name the role the Python docs give it.

So a nitpicky build (``-n``) catches a page that links a class with
``{py:func}`` or a function with ``{py:class}``, as it would with the real
inventory from docs.python.org.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from handbook.inventory import python_inventory_entries

SHARED = Path(__file__).resolve().parents[2] / "docs" / "_shared"


@pytest.fixture(scope="module")
def roles() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, role, _ in python_inventory_entries():
        found.setdefault(name, set()).add(role)
    return found


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("asyncio.run", "py:function"),
        ("asyncio.Event", "py:class"),
        ("asyncio.CancelledError", "py:exception"),
        ("asyncio.Task.cancel", "py:method"),
        ("asyncio.loop.call_soon_threadsafe", "py:method"),
        ("threading.Thread.name", "py:attribute"),
        ("sys.version_info", "py:data"),
        ("asyncio", "py:module"),
        ("ValueError", "py:exception"),
        ("len", "py:function"),
        ("str", "py:class"),
        # Classes at run time, functions in the Python documentation.
        ("contextlib.aclosing", "py:function"),
        ("contextlib.suppress", "py:function"),
        ("zip", "py:function"),
        # A factory function at run time, a class in the documentation.
        ("threading.Lock", "py:class"),
    ],
)
def test_each_name_has_the_role_the_python_docs_give_it(
    roles: dict[str, set[str]], name: str, role: str
) -> None:
    assert roles[name] == {role}


def test_nitpicky_builds_catch_a_wrong_role(tmp_path: Path) -> None:
    pytest.importorskip("sphinx", reason="the docs toolchain (Sphinx 9) needs Python 3.11+")
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(SHARED)!r})\n"
        "from handbook.sphinx_conf import configure\n"
        "globals().update(configure('en'))\n",
        encoding="utf-8",
    )
    (source / "index.md").write_text(
        "# Roles\n\n"
        "Right: {py:func}`asyncio.run`, {py:class}`asyncio.Event`, "
        "{py:func}`contextlib.aclosing`, {py:exc}`asyncio.CancelledError`.\n\n"
        "Wrong: {py:class}`asyncio.run`, {py:func}`asyncio.Event`, "
        "{py:class}`contextlib.aclosing`.\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-n",
            "-q",
            # Sphinx colours its warnings when it thinks a terminal shows
            # them (CI=true, FORCE_COLOR...): compare plain text.
            "--no-color",
            str(source),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    warnings = sorted(
        line.split("WARNING: ", 1)[1] for line in result.stderr.splitlines() if "WARNING: " in line
    )
    assert warnings == [
        "py:class reference target not found: asyncio.run [ref.class]",
        "py:class reference target not found: contextlib.aclosing [ref.class]",
        "py:func reference target not found: asyncio.Event [ref.func]",
    ]
