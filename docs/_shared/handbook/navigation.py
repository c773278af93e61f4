"""A cheaper sidebar: furo's navigation tree made once per build (DESIGN §9).

furo draws the sidebar of every page from ``toctree(titles_only=True,
collapse=False, maxdepth=-1, includehidden=True)``, then parses that HTML
with BeautifulSoup to add its expand checkboxes.  For each page, Sphinx
copies the table of contents of every page, every section heading included,
before it drops all but the titles, and BeautifulSoup parses the result
again: a third of a full build.

Two steps make the same HTML for far less:

* :class:`TitlesOnlyTocs`: while the tree is computed, ``env.tocs`` holds
  each page's table of contents already cut the way ``titles_only`` cuts it
  (top-level entries, with only the sub-toctrees under them), so Sphinx
  copies a few nodes per page instead of every heading.  A page with a
  ``tocdepth`` of its own is left whole (Sphinx prunes those before the cut).
* :func:`page_navigation`: the tree is computed, by furo itself, once per
  build for the root page, which is in no toctree and so has no entry
  marked current; every other page's tree is that one with its links made
  relative to the page and the page's branch marked, as Sphinx and furo mark
  it (``current`` on the entry's ``<a>``, its ``<li>`` and ``<ul>``
  ancestors; the checkbox of each such ``<li>`` checked; ``current-page`` on
  the last).  Anything it does not recognise makes it hand the page back to
  furo.

tests/tooling/test_navigation.py builds a project both ways and requires
every page to be byte for byte the same.  HANDBOOK_FAST_NAVIGATION=0 turns
both steps off; =strict makes a page left to furo an error (the test uses it
to show that every page takes the short way).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.builders.html import StandaloneHTMLBuilder
from sphinx.environment import BuildEnvironment
from sphinx.util.osutil import relative_uri

__all__ = ["DISABLE_VARIABLE", "TitlesOnlyTocs", "page_navigation", "titles_only"]

#: HANDBOOK_FAST_NAVIGATION=0 in the environment turns this module off.
DISABLE_VARIABLE = "HANDBOOK_FAST_NAVIGATION"
#: What furo asks toctree() for.
FURO_TOCTREE: dict[str, Any] = {
    "collapse": False,
    "titles_only": True,
    "maxdepth": -1,
    "includehidden": True,
}

_TAG = re.compile(r"<(/?)(ul|li|a|input)\b([^>]*)>")
_HREF = re.compile(r' href="([^"]*)"')
_CLASS = re.compile(r' class="([^"]*)"')
_INTERNAL = ' class="reference internal"'
_CHECKBOX = ' class="toctree-checkbox"'
_MARKED = re.compile(r'class="[^"]*\bcurrent\b')


def enabled() -> bool:
    return os.environ.get(DISABLE_VARIABLE) != "0"


def titles_only(toc: nodes.bullet_list) -> nodes.bullet_list:
    """A copy of one page's table of contents, cut as ``titles_only`` cuts it."""
    cut = toc.deepcopy()
    for top_level in cut.children:
        # As sphinx.environment.adapters.toctree._entries_from_toctree does
        # with titles_only: keep the title, and under it only the toctrees.
        if isinstance(top_level, nodes.Element) and len(top_level) > 1:
            subtrees = list(top_level.findall(addnodes.toctree))
            below = top_level[1]
            if subtrees and isinstance(below, nodes.Element):
                below[:] = subtrees
            else:
                top_level.pop(1)
    return cut


class TitlesOnlyTocs:
    """The cut tables of contents of one build, made when first needed."""

    def __init__(self) -> None:
        self._tocs: dict[str, nodes.bullet_list] | None = None

    def reset(self, *_: object) -> None:
        self._tocs = None

    def tocs(self, env: BuildEnvironment) -> dict[str, nodes.bullet_list]:
        if self._tocs is None:
            self._tocs = {
                docname: toc if env.metadata.get(docname, {}).get("tocdepth") else titles_only(toc)
                for docname, toc in env.tocs.items()
            }
        return self._tocs

    @contextmanager
    def installed(self, env: BuildEnvironment) -> Iterator[None]:
        original = env.tocs
        env.tocs = self.tocs(env)
        try:
            yield
        finally:
            env.tocs = original


def page_navigation(root: str, page: str) -> str | None:
    """furo's navigation tree for the page at URL ``page``, from the root page's tree.

    ``root`` is furo's tree for the root page (its links relative to the
    site's root, nothing marked current); ``page`` is the page's URL
    relative to the site's root (``patterns/x.html``).  None when ``root``
    holds something this does not know how to carry over.
    """
    edits: list[tuple[int, int, str]] = []
    # Open <ul> and <li> elements: (name, match); and, per open <li>, its checkbox.
    stack: list[tuple[str, re.Match[str]]] = []
    checkboxes: dict[int, re.Match[str]] = {}
    current: list[tuple[str, re.Match[str]]] = []
    for tag in _TAG.finditer(root):
        closing, name, attributes = tag.groups()
        if closing:
            if name in ("ul", "li"):
                if not stack or stack[-1][0] != name:
                    return None
                stack.pop()
            continue
        if name in ("ul", "li"):
            stack.append((name, tag))
        elif name == "input":
            if _CHECKBOX in attributes and stack and stack[-1][0] == "li":
                checkboxes.setdefault(stack[-1][1].start(), tag)
        elif name == "a":
            if _INTERNAL not in attributes:
                if "reference" in attributes:
                    return None  # an external link: not handled here
                continue
            href = _HREF.search(attributes)
            if href is None or "&" in href.group(1) or attributes.count('="') != 2:
                return None
            target, _, anchor = href.group(1).partition("#")
            if target == page and not anchor:
                edits.append(
                    (tag.start(), tag.end(), '<a class="current reference internal" href="#">')
                )
                current += [entry for entry in stack if entry not in current]
                continue
            link = relative_uri(page, target) + (f"#{anchor}" if anchor else "")
            if link == "":
                return None
            start = tag.start(3) + href.start(1)
            edits.append((start, start + len(href.group(1)), html.escape(link)))
    if stack:
        return None
    last_item = max((tag.start() for name, tag in current if name == "li"), default=None)
    for name, tag in current:
        attributes = tag.group(3)
        if name == "ul":
            if attributes:
                return None
            edits.append((tag.start(), tag.end(), '<ul class="current">'))
            continue
        found = _CLASS.fullmatch(attributes)
        classes = found.group(1).split() if found else []
        if not classes or not classes[0].startswith("toctree-l"):
            return None
        classes.insert(1, "current")
        if tag.start() == last_item:
            classes.append("current-page")
        edits.append((tag.start(), tag.end(), f'<li class="{" ".join(classes)}">'))
        checkbox = checkboxes.get(tag.start())
        if checkbox is not None:
            text = checkbox.group(0)
            if ' checked=""' in text:
                return None
            edits.append(
                (
                    checkbox.start(),
                    checkbox.end(),
                    text.replace(_CHECKBOX, ' checked=""' + _CHECKBOX, 1),
                )
            )
    pieces = []
    position = 0
    for start, end, replacement in sorted(edits):
        if start < position:
            return None
        pieces += [root[position:start], replacement]
        position = end
    pieces.append(root[position:])
    return "".join(pieces)


class _Navigation:
    """One Sphinx application's navigation trees."""

    def __init__(self, app: Sphinx) -> None:
        self.app = app
        self.tocs = TitlesOnlyTocs()
        self._root: str | None = None
        self.pagename: str | None = None

    def reset(self, *_: object) -> None:
        self.tocs.reset()
        self._root = None

    def root(self, compute: Callable[[str], str]) -> str | None:
        if self._root is None:
            builder = self.app.builder
            assert isinstance(builder, StandaloneHTMLBuilder)
            with self.tocs.installed(builder.env):
                toctree = builder._get_local_toctree(self.app.config.root_doc, **FURO_TOCTREE)
            self._root = compute(toctree)
        return None if _MARKED.search(self._root) else self._root

    def for_page(self, pagename: str, compute: Callable[[str], str]) -> str | None:
        builder = self.app.builder
        if type(builder) is not StandaloneHTMLBuilder or builder.link_suffix != ".html":
            return None
        root = self.root(compute)
        if root is None:
            return None
        if pagename == self.app.config.root_doc:
            return root
        return page_navigation(root, builder.get_target_uri(pagename))


# The application whose page furo is about to draw (set just before it does).
_drawing: _Navigation | None = None


def _install_into_furo() -> None:
    try:
        import furo
        from furo.navigation import get_navigation_tree
    except ImportError:
        return
    original = furo._compute_navigation_tree
    if getattr(original, "handbook", False):
        return

    def compute_navigation_tree(context: dict[str, Any]) -> str:
        drawing = _drawing
        pagename = context.get("pagename")
        if drawing is not None and enabled() and pagename and drawing.pagename == pagename:
            tree = drawing.for_page(pagename, get_navigation_tree)
            if tree is not None:
                return tree
        if os.environ.get(DISABLE_VARIABLE) == "strict":
            raise RuntimeError(f"the navigation tree of {pagename!r} was left to furo")
        return str(original(context))

    compute_navigation_tree.handbook = True  # type: ignore[attr-defined]
    furo._compute_navigation_tree = compute_navigation_tree


def setup(app: Sphinx) -> dict[str, Any]:
    navigation = _Navigation(app)

    def page_context(
        app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
    ) -> None:
        global _drawing
        navigation.pagename = pagename
        _drawing = navigation

    _install_into_furo()
    # Before furo's handler (priority 500), which draws the sidebar.
    app.connect("html-page-context", page_context, priority=400)
    # The tables of contents change when pages are read again.
    app.connect("env-updated", navigation.reset)
    app.connect("build-finished", navigation.reset)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
