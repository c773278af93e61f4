"""Line breaks that show as stray spaces in the built HTML.

A browser renders a line break inside running text as a space.  Between two
Chinese characters, or after full-width punctuation ("关闭了。" followed by
code or a link), that space is visible and wrong; the Sphinx extension
(:func:`handbook.sphinx_ext.join_chinese_lines`) removes such breaks, and
:func:`stray_breaks` finds any that reach the HTML.

The check reads the running text of each block element (a paragraph, a list
item, a heading, a table cell...) including its inline code and links, and
ignores preformatted text, scripts and styles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_FULL_WIDTH = "\u3000-\u303f\uff00-\uff65"
_STRAY = re.compile(
    rf"(?P<before>[{_CJK}])\s*\n\s*(?=[{_CJK}])"
    rf"|(?P<punct>[{_FULL_WIDTH}])\s*\n\s*(?=\S)"
    rf"|(?P<word>\S)\s*\n\s*(?=[{_FULL_WIDTH}])"
)
_INLINE = {
    "a",
    "abbr",
    "b",
    "cite",
    "code",
    "em",
    "i",
    "kbd",
    "mark",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "tt",
    "u",
    "var",
}
_SKIPPED = {"pre", "script", "style", "textarea", "svg", "template"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}


@dataclass(frozen=True)
class StrayBreak:
    line: int
    context: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.context!r}"


class _Flows(HTMLParser):
    """Collects the running text of each block element, with its first line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.flows: list[tuple[int, str]] = []
        self._text: list[str] = []
        self._line = 0
        self._skipping = 0

    def _flush(self) -> None:
        text = "".join(self._text)
        if text.strip():
            self.flows.append((self._line, text))
        self._text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        if tag not in _INLINE:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _INLINE:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        if tag not in _INLINE and tag not in _VOID:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if not self._text:
            self._line = self.getpos()[0]
        self._text.append(data)


def stray_breaks(html: str) -> list[StrayBreak]:
    """The line breaks in ``html``'s running text that render as a stray space."""
    parser = _Flows()
    parser.feed(html)
    parser.close()
    parser._flush()
    found = []
    for line, text in parser.flows:
        for match in _STRAY.finditer(text):
            start = max(0, match.start() - 12)
            context = text[start : match.end() + 12].replace("\n", "⏎")
            found.append(StrayBreak(line + text.count("\n", 0, match.start()), context))
    return found
