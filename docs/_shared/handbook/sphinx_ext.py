"""Sphinx side of the handbook: what readers see of the example markup.

* a "Python 3.11+" badge above every version-gated example;
* a note above every ``% continued`` example;
* the language switch (same page in the other language) and ``hreflang``
  alternates, through the template context.

Markup knowledge comes from :mod:`handbook.markup`; this module only renders.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

from handbook.config import LANGUAGE_SETTINGS, LANGUAGES, other_language
from handbook.markup import Example, MarkupError, Page, parse_file

logger = logging.getLogger(__name__)

_TEXT = {
    "en": {
        "continued": "Continues the previous example: run it in the same file, after that one.",
        "gate": "Python {spec}",
        "gate_title": "This example runs on Python {spec}; it is verified on every such version.",
        "switch": "中文",
        "switch_title": "阅读本页的中文版",
    },
    "zh": {
        "continued": "接上一个示例：把它接在上一个示例后面，放在同一个文件里运行。",
        "gate": "Python {spec}",
        "gate_title": "此示例适用于 Python {spec}，已在每个相应版本上运行验证。",
        "switch": "English",
        "switch_title": "Read this page in English",
    },
}
OTHER_LANGUAGE = {code: other_language(code) for code in LANGUAGES}
HREFLANG = {code: settings.hreflang for code, settings in LANGUAGE_SETTINGS.items()}


def badge_text(spec: str) -> str:
    """How a version gate reads on the badge: ">=3.11" -> "3.11+"."""
    parts = []
    for clause in (part.strip() for part in spec.split(",")):
        match = re.fullmatch(r"(>=|<=|<|>|==|!=)\s*(\d+(?:\.\d+)*)(\.\*)?", clause)
        if not match:
            parts.append(clause)
            continue
        operator, version, _ = match.groups()
        if operator == ">=":
            parts.append(f"{version}+")
        elif operator == "==":
            parts.append(version)
        elif operator == "!=":
            parts.append(f"≠ {version}")
        else:
            parts.append(f"{operator} {version}")
    return ", ".join(parts)


def _page(app: Sphinx, docname: str) -> Page | None:
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".md":
        return None
    try:
        return parse_file(path, display_path=str(path.relative_to(Path(app.srcdir).parent)))
    except MarkupError as error:
        logger.warning(
            "%s", error.message, location=(docname, error.line), type="handbook", subtype="markup"
        )
        return None


def annotate_examples(app: Sphinx, doctree: nodes.document) -> None:
    """Add badges and notes above gated and continued examples."""
    page = _page(app, app.env.docname)
    if page is None:
        return
    language = app.config.handbook_language
    by_line = {example.line: example for example in page.examples}
    for block in list(doctree.findall(nodes.literal_block)):
        example = by_line.get(block.line or -1)
        if example is None or block.get("language") != "python":
            continue
        block["classes"].append("handbook-example")
        notes = _notes(example, language)
        if notes:
            block.parent.insert(block.parent.index(block), notes)


def _notes(example: Example, language: str) -> nodes.container | None:
    text = _TEXT[language]
    children: list[nodes.Node] = []
    if example.requires_python:
        spec = badge_text(example.requires_python)
        children.append(
            nodes.inline(
                "",
                text["gate"].format(spec=spec),
                classes=["handbook-badge", "handbook-badge-python"],
            )
        )
    if example.continued:
        children.append(nodes.inline("", text["continued"], classes=["handbook-continued"]))
    if not children:
        return None
    container = nodes.container("", *children, classes=["handbook-example-notes"])
    return container


# Chinese prose is wrapped in the source like English; a line break between
# two Chinese characters would render as a stray space in most browsers, and
# so would one after full-width punctuation ("关闭了。" then code or a link).
_CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]"
# Full-width punctuation: CJK symbols and punctuation, full-width forms.
_FULL_WIDTH = r"[\u3000-\u303f\uff00-\uff65]"
# Curly quotes are full-width in Chinese fonts, but only next to Chinese.
_QUOTE = r"[\u2018\u2019\u201c\u201d\u2014\u2026]"
_CJK_LINE_BREAK = re.compile(
    rf"(?<={_CJK})[ \t]*\n[ \t]*(?={_CJK})"
    rf"|(?<={_FULL_WIDTH})[ \t]*\n[ \t]*"
    rf"|[ \t]*\n[ \t]*(?={_FULL_WIDTH})"
    rf"|(?<={_QUOTE})[ \t]*\n[ \t]*(?={_CJK})"
    rf"|(?<={_CJK})[ \t]*\n[ \t]*(?={_QUOTE})"
)
_NOT_PROSE = (nodes.literal_block, nodes.literal, nodes.raw, nodes.comment)


def _neighbour(node: nodes.Node, step: int) -> str:
    """The character rendered just before (step -1) or after (+1) ``node``."""
    while node.parent is not None:
        siblings = node.parent.children
        index = next(i for i, child in enumerate(siblings) if child is node) + step
        while 0 <= index < len(siblings):
            # MyST leaves empty text nodes around inline markup: skip them.
            text = siblings[index].astext()
            if text:
                return text[-1:] if step < 0 else text[:1]
            index += step
        parent: nodes.Element = node.parent
        if not isinstance(parent, nodes.Inline):
            return ""
        node = parent
    return ""


def join_line_breaks(value: str, before: str = "", after: str = "") -> str:
    """``value`` without the line breaks that would show as a stray space.

    ``before`` and ``after`` are the characters rendered next to ``value``
    (from the neighbouring nodes), so a soft break between a sentence and
    inline code or a link is judged by what surrounds it.
    """
    joined = _CJK_LINE_BREAK.sub("", before + value + after)
    return joined[len(before) : len(joined) - len(after)]


def join_chinese_lines(app: Sphinx, doctree: nodes.document, docname: str = "") -> None:
    """Drop source line breaks that would show as stray spaces in Chinese prose.

    Runs when a page is read (for the search index) and again once its
    cross-references are resolved, when the titles of linked pages are known.
    """
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or isinstance(parent, _NOT_PROSE) or "\n" not in text:
            continue
        value = str(text)
        joined = join_line_breaks(value, _neighbour(text, -1), _neighbour(text, +1))
        if joined == value:
            continue
        # Text nodes compare by value: find this one by identity.
        index = next(i for i, child in enumerate(parent.children) if child is text)
        if joined:
            parent[index] = nodes.Text(joined)
        else:
            del parent[index]


def page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Give templates the URL of the same page in the other language."""
    language = app.config.handbook_language
    other = OTHER_LANGUAGE[language]
    depth = pagename.count("/")
    to_root = "../" * depth
    suffix = app.builder.out_suffix if hasattr(app.builder, "out_suffix") else ".html"
    counterpart = f"{to_root}../{other}/{pagename}{suffix}"
    here = f"{to_root}../{language}/{pagename}{suffix}"
    base = app.config.html_baseurl.rstrip("/")

    def absolute(relative: str, lang: str) -> str:
        if not base:
            return relative
        return f"{base}/{lang}/{pagename}{suffix}"

    context["handbook_language"] = language
    context["handbook_switch_url"] = counterpart
    context["handbook_switch_label"] = _TEXT[language]["switch"]
    context["handbook_switch_title"] = _TEXT[language]["switch_title"]
    context["handbook_switch_hreflang"] = HREFLANG[other]
    context["handbook_alternates"] = [
        (HREFLANG[language], absolute(here, language)),
        (HREFLANG[other], absolute(counterpart, other)),
    ]
    # Explicit targets are shared by both languages: the switch keeps the
    # reader's section by sending them to the enclosing one (handbook.js).
    labels = app.env.domaindata["std"]["labels"]
    context["handbook_targets"] = sorted(
        {labelid for docname, labelid, _ in labels.values() if docname == pagename and labelid}
    )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("handbook_language", "en", "env", types=[str])
    app.connect("doctree-read", annotate_examples)
    app.connect("doctree-read", join_chinese_lines)
    app.connect("doctree-resolved", join_chinese_lines)
    app.connect("html-page-context", page_context)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
