"""The sidebar made once per build (handbook.navigation) is furo's own, page for page.

Builds a small site with the shared configuration twice, once with
HANDBOOK_FAST_NAVIGATION=0 (furo computes every page's tree), once as the
handbook builds, and requires every HTML file to be the same.  Then carries
the root page's tree over to every other page with
:func:`handbook.navigation.page_navigation` and compares it with the tree furo
drew for that page.  Sphinx 9 needs Python 3.11+, so on 3.10 these are skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs toolchain (Sphinx 9) needs Python 3.11+")

from handbook.navigation import DISABLE_VARIABLE, page_navigation

SHARED = Path(__file__).resolve().parents[2] / "docs" / "_shared"

# Two toctrees (one with a caption), nested sections with children, a page
# in two levels of directories, headings below the titles (which the
# sidebar leaves out), a sub-toctree below a heading, code in titles, a
# hidden toctree and an orphan page.
PAGES = {
    "index.md": """\
# Home

```{toctree}
:caption: Guides
guide/index
reference/index
```

```{toctree}
:hidden:
about
```
""",
    "about.md": "# About `this`\n\n## Licence\n\nText.\n",
    "orphan.md": "---\norphan: true\n---\n# Alone\n\nIn no toctree.\n",
    "guide/index.md": """\
# Guide

Introduction.

## Topics

```{toctree}
first
second/index
```
""",
    "guide/first.md": "# First steps\n\n## A section\n\n### A subsection\n\nText.\n",
    "guide/second/index.md": "# Second\n\n```{toctree}\ndeep\n```\n",
    "guide/second/deep.md": "# Deep `asyncio.run()` page\n\n## Part\n\nText.\n",
    "reference/index.md": "# Reference\n\n```{toctree}\napi\n```\n",
    "reference/api.md": "# API\n\n## One\n\n## Two\n",
}


def build(root: Path, name: str, fast: bool) -> Path:
    source = root / "src"
    if not source.exists():
        for relative, text in PAGES.items():
            path = source / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (source / "conf.py").write_text(
            f"import sys\nsys.path.insert(0, {str(SHARED)!r})\n"
            "from handbook.sphinx_conf import configure\n"
            "globals().update(configure('en'))\n",
            encoding="utf-8",
        )
    output = root / name
    env = dict(os.environ)
    # strict: a page whose tree is left to furo fails the build.
    env[DISABLE_VARIABLE] = "strict" if fast else "0"
    sphinx = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q"]
    result = subprocess.run(
        [*sphinx, "-d", str(root / f"{name}-doctrees"), str(source), str(output)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return output


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("navigation")
    return build(root, "furo", fast=False), build(root, "fast", fast=True)


def pages(site: Path) -> list[str]:
    return sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html"))


def sidebar_tree(page: str) -> str:
    found = re.search(r'<div class="sidebar-tree">\n  (.*?)\n</div>', page, re.DOTALL)
    assert found is not None
    return found.group(1)


def test_every_page_is_the_same_either_way(builds: tuple[Path, Path]) -> None:
    furo, fast = builds
    assert pages(furo) == pages(fast)
    assert "guide/second/deep.html" in pages(furo)
    for page in pages(furo):
        assert (fast / page).read_bytes() == (furo / page).read_bytes(), page


def test_the_root_tree_carried_over_is_furos_tree_for_each_page(
    builds: tuple[Path, Path],
) -> None:
    furo, _ = builds
    root = sidebar_tree((furo / "index.html").read_text(encoding="utf-8"))
    assert "current" not in root
    checked = 0
    for page in pages(furo):
        text = (furo / page).read_text(encoding="utf-8")
        if '<div class="sidebar-tree">' not in text:
            continue
        assert page_navigation(root, page) == sidebar_tree(text), page
        checked += 1
    assert checked >= len(PAGES)


def test_the_marks_on_a_nested_page() -> None:
    root = (
        '<ul>\n<li class="toctree-l1 has-children"><a class="reference internal" '
        'href="guide/index.html">Guide</a><input aria-label="Toggle navigation of Guide" '
        'class="toctree-checkbox" id="toctree-checkbox-1" name="toctree-checkbox-1" '
        'role="switch" type="checkbox"/><label for="toctree-checkbox-1"></label><ul>\n'
        '<li class="toctree-l2"><a class="reference internal" href="guide/first.html">'
        "First</a></li>\n</ul>\n</li>\n"
        '<li class="toctree-l1"><a class="reference internal" href="about.html">About</a></li>\n'
        "</ul>"
    )
    assert page_navigation(root, "guide/first.html") == (
        '<ul class="current">\n<li class="toctree-l1 current has-children"><a class="reference '
        'internal" href="index.html">Guide</a><input aria-label="Toggle navigation of Guide" '
        'checked="" class="toctree-checkbox" id="toctree-checkbox-1" name="toctree-checkbox-1" '
        'role="switch" type="checkbox"/><label for="toctree-checkbox-1"></label>'
        '<ul class="current">\n<li class="toctree-l2 current current-page"><a class="current '
        'reference internal" href="#">First</a></li>\n</ul>\n</li>\n'
        '<li class="toctree-l1"><a class="reference internal" href="../about.html">About</a>'
        "</li>\n</ul>"
    )


@pytest.mark.parametrize(
    "root",
    [
        '<ul>\n<li class="toctree-l1"><a class="reference external" href="https://x.org/">'
        "X</a></li>\n</ul>",
        '<ul>\n<li class="toctree-l1"><a class="reference internal" href="a.html">A</a>\n</ul>',
        '<ul>\n<li class="toctree-l1"><a class="reference internal" href="a.html" title="t">'
        "A</a></li>\n</ul>",
    ],
    ids=["external link", "unclosed item", "unknown attribute"],
)
def test_anything_unexpected_goes_back_to_furo(root: str) -> None:
    assert page_navigation(root, "a.html") is None
