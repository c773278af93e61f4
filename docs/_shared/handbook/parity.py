"""Bilingual parity (DESIGN §4): docs/en/X.md and docs/zh/X.md stay twins.

For every page pair:

* both files exist;
* the same heading tree (levels, in order) and the same explicit targets;
* the same sequence of code blocks and markers;
* python blocks are equal as ASTs once string constants (f-string text parts
  included) and comments are set aside: identifiers are English in both
  languages, printed text and comments are in the page's language;
* output blocks stand at the same places.

    python -m handbook.parity [docs]      # exit status 1 when a pair drifts
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import TypeVar

from handbook.markup import Block, MarkupError, Page, Target, parse_file

__all__ = ["Problem", "check_pair", "check_tree", "main"]

_Item = TypeVar("_Item")


@dataclass(frozen=True)
class Problem:
    """One difference, located in both files."""

    english: str
    english_line: int
    chinese: str
    chinese_line: int
    message: str

    def __str__(self) -> str:
        return (
            f"{self.english}:{self.english_line} <-> {self.chinese}:{self.chinese_line}: "
            f"{self.message}"
        )


def check_tree(docs: Path, *, relative_to: Path | None = None) -> list[Problem]:
    """Compare every page under docs/en with its twin under docs/zh."""
    base = relative_to or docs.parent
    english_root, chinese_root = docs / "en", docs / "zh"
    english = {
        p.relative_to(english_root) for p in english_root.rglob("*.md") if "_build" not in p.parts
    }
    chinese = {
        p.relative_to(chinese_root) for p in chinese_root.rglob("*.md") if "_build" not in p.parts
    }
    problems: list[Problem] = []
    for relative in sorted(english | chinese):
        en_path, zh_path = english_root / relative, chinese_root / relative
        en_name, zh_name = _display(en_path, base), _display(zh_path, base)
        if relative not in chinese:
            problems.append(Problem(en_name, 1, zh_name, 0, "the Chinese twin is missing"))
            continue
        if relative not in english:
            problems.append(Problem(en_name, 0, zh_name, 1, "the English twin is missing"))
            continue
        problems.extend(check_pair(en_path, zh_path, en_name, zh_name))
    return problems


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def check_pair(
    english_path: Path,
    chinese_path: Path,
    english_name: str | None = None,
    chinese_name: str | None = None,
) -> list[Problem]:
    en_name = english_name or str(english_path)
    zh_name = chinese_name or str(chinese_path)
    try:
        english = parse_file(english_path, display_path=en_name)
        chinese = parse_file(chinese_path, display_path=zh_name)
    except MarkupError as error:
        line = error.line
        return [
            Problem(
                en_name,
                line if error.path == en_name else 0,
                zh_name,
                line if error.path == zh_name else 0,
                f"cannot compare: {error.message}",
            )
        ]
    return list(_compare(english, chinese))


def _compare(en: Page, zh: Page) -> Iterator[Problem]:
    """The first difference in headings, in targets and in code blocks, each."""
    yield from _first_mismatch(
        en,
        zh,
        en.headings,
        zh.headings,
        line=lambda heading: heading.line,
        alone=lambda position, heading, side: (
            f"heading {position} ({'#' * heading.level} {heading.text!r}) exists in {side} only"
        ),
        differ=lambda position, a, b: (
            (f"heading {position} is level {a.level} in English, {b.level} in Chinese", 0, 0)
            if a.level != b.level
            else None
        ),
    )
    yield from _first_mismatch(
        en,
        zh,
        en.targets,
        zh.targets,
        line=lambda target: target.line,
        alone=lambda position, target, side: (
            f"target {position} differs: "
            + (
                f"{_target_name(target)} in English, nothing in Chinese"
                if side == "English"
                else f"nothing in English, {_target_name(target)} in Chinese"
            )
        ),
        differ=lambda position, a, b: (
            (
                f"target {position} differs: "
                f"{_target_name(a)} in English, {_target_name(b)} in Chinese",
                0,
                0,
            )
            if a.name != b.name
            else None
        ),
    )
    yield from _first_mismatch(
        en,
        zh,
        en.blocks,
        zh.blocks,
        line=lambda block: block.line,
        alone=lambda position, block, side: (
            f"code block {position} ({block.signature}) exists in {side} only"
        ),
        differ=_block_difference,
    )


def _first_mismatch(
    en: Page,
    zh: Page,
    english: Sequence[_Item],
    chinese: Sequence[_Item],
    *,
    line: Callable[[_Item], int],
    alone: Callable[[int, _Item, str], str],
    differ: Callable[[int, _Item, _Item], tuple[str, int, int] | None],
) -> Iterator[Problem]:
    """The first position where two sequences differ, as a Problem (or nothing).

    ``alone`` words an item only one language has (its third argument is
    "English" or "Chinese"); ``differ`` compares two items and returns the
    message and the lines to name (0: the item's own line), or None.
    """
    for position, (a, b) in enumerate(zip_longest(english, chinese), start=1):
        if a is None or b is None:
            side, present = ("English", a) if a is not None else ("Chinese", b)
            assert present is not None
            yield Problem(
                en.path,
                line(a) if a is not None else _last_line(en),
                zh.path,
                line(b) if b is not None else _last_line(zh),
                alone(position, present, side),
            )
            return
        difference = differ(position, a, b)
        if difference is not None:
            message, en_line, zh_line = difference
            yield Problem(en.path, en_line or line(a), zh.path, zh_line or line(b), message)
            return


def _block_difference(position: int, a: Block, b: Block) -> tuple[str, int, int] | None:
    difference = _compare_blocks(a, b)
    if difference is None:
        return None
    message, en_line, zh_line = difference
    return f"code block {position}: {message}", en_line, zh_line


def _target_name(target: Target | None) -> str:
    return f"({target.name})=" if target is not None else "nothing"


def _last_line(page: Page) -> int:
    return max(len(page.lines), 1)


def _compare_blocks(a: Block, b: Block) -> tuple[str, int, int] | None:
    if a.signature != b.signature:
        return (f"{_describe(a)} in English, {_describe(b)} in Chinese", 0, 0)
    a_markers = [(m.name, m.value) for m in a.markers]
    b_markers = [(m.name, m.value) for m in b.markers]
    if a_markers != b_markers:
        return (f"markers differ: {_markers(a)} in English, {_markers(b)} in Chinese", 0, 0)
    if a.kind == "python":
        return _compare_python(a, b)
    return None


def _describe(block: Block) -> str:
    if block.kind == "output":
        return "an output block"
    if block.kind == "python":
        return "a python block"
    return f"a {block.language or 'plain'} block"


def _markers(block: Block) -> str:
    if not block.markers:
        return "none"
    return ", ".join(f"% {m.name}" + (f": {m.value}" if m.value else "") for m in block.markers)


class _SetStringsAside(ast.NodeTransformer):
    """Blank every string constant; comments are already gone in the AST."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):
            return ast.copy_location(ast.Constant(value=""), node)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        values = [self.visit(value) for value in node.values if not isinstance(value, ast.Constant)]
        return ast.copy_location(ast.JoinedStr(values=values), node)


def _normalised(code: str) -> ast.AST:
    tree: ast.AST = _SetStringsAside().visit(ast.parse(code))
    return tree


def _compare_python(a: Block, b: Block) -> tuple[str, int, int] | None:
    try:
        a_tree = _normalised(a.code)
    except SyntaxError as error:
        return (
            f"the English python block does not parse: {error.msg}",
            a.content_line + (error.lineno or 1) - 1,
            0,
        )
    try:
        b_tree = _normalised(b.code)
    except SyntaxError as error:
        return (
            f"the Chinese python block does not parse: {error.msg}",
            0,
            b.content_line + (error.lineno or 1) - 1,
        )
    difference = _first_difference(a_tree, b_tree)
    if difference is None:
        return None
    a_node, b_node, what = difference
    a_line = a.content_line + getattr(a_node, "lineno", 1) - 1
    b_line = b.content_line + getattr(b_node, "lineno", 1) - 1
    return (f"python code differs beyond strings and comments: {what}", a_line, b_line)


def _first_difference(a: ast.AST, b: ast.AST) -> tuple[ast.AST, ast.AST, str] | None:
    if type(a) is not type(b):
        return a, b, f"{type(a).__name__} in English, {type(b).__name__} in Chinese"
    for field in a._fields:
        a_value, b_value = getattr(a, field, None), getattr(b, field, None)
        if isinstance(a_value, list) and isinstance(b_value, list):
            if len(a_value) != len(b_value):
                return a, b, f"a different number of {field} in {type(a).__name__}"
            for a_item, b_item in zip(a_value, b_value, strict=True):
                if isinstance(a_item, ast.AST) and isinstance(b_item, ast.AST):
                    found = _first_difference(a_item, b_item)
                    if found:
                        return found
                elif a_item != b_item:
                    return a, b, f"{field} {a_item!r} in English, {b_item!r} in Chinese"
        elif isinstance(a_value, ast.AST) and isinstance(b_value, ast.AST):
            found = _first_difference(a_value, b_value)
            if found:
                return found
        elif a_value != b_value:
            return a, b, f"{field} {a_value!r} in English, {b_value!r} in Chinese"
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    docs = Path(args[0]) if args else Path(__file__).resolve().parents[2]
    problems = check_tree(docs)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} parity problem(s)")
        return 1
    print("parity: every page has its twin and they match")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
