"""The handbook's example markup: the only code that knows how a page is written.

A page is MyST Markdown. This module finds, line by line, what the rest of the
tooling needs and nothing else:

* fenced blocks (```` ```python ````, output blocks, any other fence), with the
  line of their opening fence;
* the ``% marker`` comments directly above a python block;
* headings and explicit targets (``(label)=``), for the parity check.

It pairs each python block with the output block that follows it and checks
the rules that can be checked without running anything (an output block with
no python block before it, an unknown marker, an unclosed fence, ...).  Those
become a :class:`MarkupError` naming the page and line.

The test collector (:mod:`handbook.sybil_collector`), the Sphinx extension
(:mod:`handbook.sphinx_ext`) and the parity check (:mod:`handbook.parity`)
all read pages through :func:`parse_text` / :func:`parse_file`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from handbook.config import SERVICES

__all__ = [
    "KNOWN_MARKERS",
    "Block",
    "Example",
    "Heading",
    "Marker",
    "MarkupError",
    "Page",
    "Target",
    "Words",
    "parse_file",
    "parse_text",
    "words",
]

#: Marker comments that may stand directly above a ```` ```python ```` fence.
KNOWN_MARKERS = ("continued", "requires-python", "service", "skip")

_FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:.-]+)\}[ \t]*(?P<argument>.*)$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<text>.*?))?[ \t]*#*[ \t]*$")
_TARGET = re.compile(r"^ {0,3}\((?P<name>[^()\s]+)\)=[ \t]*$")
_COMMENT = re.compile(r"^ {0,3}%(?P<text>.*)$")
# A comment directly above a fence is a marker when it looks like one:
# ``% name`` alone, or ``% name: value``.  Anything else is an ordinary comment.
_MARKER = re.compile(r"^[ \t]*(?P<name>[a-z][a-z-]*)(?:[ \t]*:[ \t]*(?P<value>.*?))?[ \t]*$")
_SKIP_VALUE = re.compile(r'^next[ \t]+"(?P<reason>[^"]+)"$')

# Directives whose body is literal text (code, tables, diagrams, raw output),
# not more Markdown: a fence inside one is part of its text, never an
# example.  Any other directive (an admonition, say) holds Markdown, which is
# scanned for examples like the page itself.
_LITERAL_DIRECTIVES = {
    "code-block",
    "code",
    "sourcecode",
    "code-cell",
    "literalinclude",
    "eval-rst",
    "toctree",
    "raw",
    "math",
    "csv-table",
    "mermaid",
    "graphviz",
}
_CODE_DIRECTIVES = {"code-block", "code", "sourcecode"}
# Spellings of Python that would look executed but are not: refuse them so a
# page cannot show unverified Python by accident.
_PYTHON_ALIASES = {"py", "python3", "py3", "pycon", "ipython", "ipython3"}


class MarkupError(Exception):
    """A page breaks the example markup rules; names the page and line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Marker:
    """A ``% name: value`` comment directly above a python block."""

    name: str
    value: str | None
    line: int


@dataclass(frozen=True)
class Block:
    """One fenced block.

    ``kind`` is ``"python"`` (executed), ``"output"`` (the expected output of
    the python block before it) or ``"other"`` (shown, not executed).
    ``line`` is the 1-based line of the opening fence; ``content_line`` is the
    line of the first content line (after directive options).
    """

    kind: str
    language: str
    directive: str | None
    code: str
    line: int
    content_line: int
    end_line: int
    options: tuple[tuple[str, str], ...] = ()
    markers: tuple[Marker, ...] = ()

    @property
    def signature(self) -> str:
        """What the parity check compares for non-python blocks."""
        if self.kind == "other":
            return f"{self.directive or 'fence'}:{self.language}"
        return self.kind


@dataclass(frozen=True)
class Example:
    """A python block, its markers and its output block (if any)."""

    path: str
    block: Block
    output: Block | None
    previous: Example | None = None

    @property
    def line(self) -> int:
        return self.block.line

    @property
    def code(self) -> str:
        return self.block.code

    def _marker(self, name: str) -> Marker | None:
        for marker in self.block.markers:
            if marker.name == name:
                return marker
        return None

    @property
    def continued(self) -> bool:
        return self._marker("continued") is not None

    @property
    def requires_python(self) -> str | None:
        marker = self._marker("requires-python")
        return marker.value if marker else None

    @property
    def service(self) -> str | None:
        marker = self._marker("service")
        return marker.value if marker else None

    @property
    def skip_reason(self) -> str | None:
        marker = self._marker("skip")
        if marker is None or marker.value is None:
            return None
        match = _SKIP_VALUE.match(marker.value)
        return match.group("reason") if match else None

    def chain(self) -> list[Example]:
        """This example preceded by every example it continues, oldest first."""
        chain = [self]
        while chain[0].continued and chain[0].previous is not None:
            chain.insert(0, chain[0].previous)
        return chain


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    line: int


@dataclass(frozen=True)
class Target:
    name: str
    line: int


@dataclass
class Page:
    """Everything the tooling knows about one page."""

    path: str
    blocks: list[Block] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    lines: list[str] = field(default_factory=list, repr=False)

    @cached_property
    def python_blocks(self) -> list[Block]:
        return [block for block in self.blocks if block.kind == "python"]


def parse_file(path: str | Path, *, display_path: str | None = None) -> Page:
    """Parse the page at ``path``; raises :class:`MarkupError`."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_text(text, display_path or str(path))


def parse_text(text: str, path: str = "<page>") -> Page:
    """Parse page ``text``; ``path`` is used in error messages only."""
    lines = text.splitlines()
    page = Page(path=path, lines=lines)
    _scan(lines, 0, len(lines), page, base_indent=0)
    page.examples = _pair(page)
    return page


def _scan(lines: list[str], start: int, stop: int, page: Page, base_indent: int) -> None:
    """Scan lines[start:stop] (0-based) for fences, headings, targets, markers."""
    index = start
    pending_markers: list[Marker] = []
    if start == 0 and stop > 0 and lines[0].strip() == "---":
        # YAML front matter: skip to its closing line.
        for end in range(1, stop):
            if lines[end].strip() == "---":
                index = end + 1
                break
    while index < stop:
        raw = lines[index]
        line = raw[base_indent:] if raw[:base_indent].strip() == "" else raw
        number = index + 1
        fence = _FENCE_OPEN.match(line)
        if fence:
            index = _read_fence(lines, index, stop, fence, page, pending_markers, base_indent)
            pending_markers = []
            continue
        comment = _COMMENT.match(line)
        if comment:
            marker = _MARKER.match(comment.group("text"))
            if marker and (
                marker.group("value") is not None or marker.group("name") in KNOWN_MARKERS
            ):
                pending_markers.append(Marker(marker.group("name"), marker.group("value"), number))
            index += 1
            continue
        if pending_markers:
            first = pending_markers[0]
            raise MarkupError(
                page.path,
                first.line,
                f"marker '% {first.name}' must stand directly above a ```python fence",
            )
        heading = _HEADING.match(line)
        if heading:
            page.headings.append(
                Heading(len(heading.group("hashes")), (heading.group("text") or "").strip(), number)
            )
        target = _TARGET.match(line)
        if target:
            page.targets.append(Target(target.group("name"), number))
        index += 1
    if pending_markers:
        first = pending_markers[0]
        raise MarkupError(
            page.path, first.line, f"marker '% {first.name}' is not followed by a ```python fence"
        )


def _read_fence(
    lines: list[str],
    index: int,
    stop: int,
    opening: re.Match[str],
    page: Page,
    markers: list[Marker],
    base_indent: int,
) -> int:
    """Read the fence opening at ``index``; returns the index after it."""
    fence = opening.group("fence")
    indent = len(opening.group("indent")) + base_indent
    info = opening.group("info")
    number = index + 1
    if fence[0] == "`" and "`" in info:
        # Not a fence (an inline code span at the start of a line).
        return index + 1
    closing = re.compile(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
    end = None
    for candidate in range(index + 1, stop):
        text = lines[candidate]
        text = text[base_indent:] if text[:base_indent].strip() == "" else text
        if closing.match(text):
            end = candidate
            break
    if end is None:
        raise MarkupError(page.path, number, f"the fence {fence} opened here is never closed")

    body = [_dedent(line, indent) for line in lines[index + 1 : end]]
    directive = _DIRECTIVE.match(info)
    options: list[tuple[str, str]] = []
    content_offset = 0
    if directive:
        name = directive.group("name")
        language = directive.group("argument").strip()
        while content_offset < len(body):
            option = _OPTION.match(body[content_offset])
            if not option:
                break
            options.append((option.group("key"), option.group("value").strip()))
            content_offset += 1
        if name not in _LITERAL_DIRECTIVES:
            # An admonition or similar: its body is Markdown and may hold examples.
            if markers:
                raise MarkupError(
                    page.path,
                    markers[0].line,
                    "markers must stand directly above a ```python fence",
                )
            _scan(lines, index + 1 + content_offset, end, page, base_indent=indent)
            return end + 1
    else:
        name = None
        language = info.split()[0] if info else ""

    content = body[content_offset:]
    # Blank lines right after the options are not part of the code.
    while content and not content[0].strip() and directive:
        content = content[1:]
        content_offset += 1
    code = "\n".join(content)
    if content:
        code += "\n"

    classes = dict(options).get("class", "").split()
    if name is None and language == "python":
        kind = "python"
    elif name in _CODE_DIRECTIVES and "output" in classes:
        kind = "output"
    else:
        kind = "other"
        lang = language.lower()
        if lang in _PYTHON_ALIASES or (name is not None and lang == "python"):
            raise MarkupError(
                page.path,
                number,
                f"Python code must be a plain ```python fence so it is executed (found {info!r})",
            )
    if markers and kind != "python":
        raise MarkupError(
            page.path,
            markers[0].line,
            f"marker '% {markers[0].name}' must stand directly above a ```python fence",
        )
    for marker in markers:
        _check_marker(page.path, marker)
    page.blocks.append(
        Block(
            kind=kind,
            language=language,
            directive=name,
            code=code,
            line=number,
            content_line=number + 1 + content_offset,
            end_line=end + 1,
            options=tuple(options),
            markers=tuple(markers),
        )
    )
    return end + 1


def _dedent(line: str, indent: int) -> str:
    prefix = line[:indent]
    return line[indent:] if prefix.strip() == "" else line.lstrip()


def _check_marker(path: str, marker: Marker) -> None:
    if marker.name not in KNOWN_MARKERS:
        raise MarkupError(
            path,
            marker.line,
            f"unknown marker '% {marker.name}' (known: {', '.join(KNOWN_MARKERS)})",
        )
    if marker.name == "continued" and marker.value is not None:
        raise MarkupError(path, marker.line, "'% continued' takes no value")
    if marker.name == "requires-python":
        if not marker.value:
            raise MarkupError(
                path, marker.line, "'% requires-python:' needs a specifier such as >=3.11"
            )
        _validate_specifier(path, marker)
    if marker.name == "service" and marker.value not in SERVICES:
        raise MarkupError(
            path,
            marker.line,
            f"'% service:' needs the name of a service the tooling can start "
            f"(known: {', '.join(SERVICES)}), not {marker.value or 'nothing'!r}",
        )
    if marker.name == "skip" and not (marker.value and _SKIP_VALUE.match(marker.value)):
        raise MarkupError(
            path, marker.line, 'write a skip as: % skip: next "why it cannot run here"'
        )


def _validate_specifier(path: str, marker: Marker) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        SpecifierSet(marker.value or "")
    except InvalidSpecifier:
        raise MarkupError(
            path, marker.line, f"'{marker.value}' is not a version specifier such as >=3.11"
        ) from None


def _pair(page: Page) -> list[Example]:
    """Pair python blocks with the output blocks that follow them."""
    examples: list[Example] = []
    previous_block: Block | None = None
    previous_example: Example | None = None
    pending: Block | None = None

    def flush(output: Block | None) -> None:
        nonlocal previous_example, pending
        if pending is None:
            return
        example = Example(page.path, pending, output, previous_example)
        if example.continued and previous_example is None:
            raise MarkupError(
                page.path,
                pending.line,
                "'% continued' on the first python block: there is nothing to continue",
            )
        examples.append(example)
        previous_example = example
        pending = None

    for block in page.blocks:
        if block.kind == "output":
            adjacent = (
                pending is not None
                and previous_block is pending
                and _only_blank_between(page, pending, block)
            )
            if not adjacent:
                raise MarkupError(
                    page.path,
                    block.line,
                    "output block with no ```python block directly before it "
                    "(only blank lines may separate them)",
                )
            flush(block)
        else:
            flush(None)
            if block.kind == "python":
                pending = block
        previous_block = block
    flush(None)
    return examples


def _only_blank_between(page: Page, first: Block, second: Block) -> bool:
    between = page.lines[first.end_line : second.line - 1]
    return all(not line.strip() for line in between)


@dataclass(frozen=True)
class Words:
    """A line of text a reader reads as language, for vocabulary checks.

    ``kind`` is ``"prose"``, ``"heading"`` or ``"comment"`` (a comment in a
    python block).  In prose and headings, inline code, role targets, link
    targets and URLs are blanked out, so only the words remain.
    """

    kind: str
    line: int
    text: str


_INLINE_CODE = re.compile(
    r"(?<!`)(?P<ticks>`+)(?!`)(?P<body>(?:(?!\n[ \t]*\n).)+?)(?<!`)(?P=ticks)(?!`)", re.S
)
_ROLE = re.compile(r"\{[\w:.+-]+\}(?P<ticks>`+)(?P<body>.*?)(?P=ticks)", re.S)
_LINK = re.compile(r"(?P<text>\[[^\]]*\])\((?P<target>[^()\s]*)\)")
_URL = re.compile(r"<?https?://[^\s>)]+>?")
_FENCE_LINE = re.compile(r"^[ \t]*(?:`{3,}|~{3,}|:{3,})")


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def _role_words(match: re.Match[str]) -> str:
    # {doc}`Title <path>` shows its title; {py:func}`name` shows code.
    titled = re.match(r"(?s)(?P<title>.*\S)\s*<[^<>]+>$", match.group("body"))
    if titled and not match.group(0).startswith(("{py", "{code")):
        return titled.group("title") + _blank(match.group(0)[len(titled.group("title")) :])
    return _blank(match.group(0))


def words(page: Page) -> list[Words]:
    """The prose, headings and python comments of ``page``, line by line."""
    import io
    import tokenize

    literal: set[int] = set()
    for block in page.blocks:
        literal.update(range(block.line, block.end_line + 1))
    headings = {heading.line for heading in page.headings}
    kept: list[str] = []
    for number, line in enumerate(page.lines, start=1):
        skip = (
            number in literal
            or _COMMENT.match(line)
            or _TARGET.match(line)
            or _FENCE_LINE.match(line)
            or _OPTION.match(line.strip())
        )
        kept.append("" if skip else line)
    if page.lines and page.lines[0].strip() == "---":
        for end in range(1, len(page.lines)):
            kept[end] = ""
            if page.lines[end].strip() == "---":
                break
        kept[0] = ""
    text = "\n".join(kept)
    text = _ROLE.sub(_role_words, text)
    text = _INLINE_CODE.sub(lambda m: _blank(m.group(0)), text)
    text = _LINK.sub(lambda m: m.group("text") + _blank(m.group(0)[len(m.group("text")) :]), text)
    text = _URL.sub(lambda m: _blank(m.group(0)), text)
    found = [
        Words("heading" if number in headings else "prose", number, line)
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]
    for block in page.python_blocks:
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(block.code).readline))
        except (tokenize.TokenError, SyntaxError):
            continue
        for token in tokens:
            if token.type == tokenize.COMMENT:
                number = block.content_line + token.start[0] - 1
                found.append(Words("comment", number, token.string))
    return sorted(found, key=lambda item: item.line)
