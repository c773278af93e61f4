"""One set of section headings per page type, in each language.

docs/_shared/page-types.toml lists, per page type, its level-2 headings in
order.  Every page of patterns/, misconceptions/, faq/ and case-studies/ (in
both languages) must use exactly those, and the "Page types" section of both
contributing pages must list the same headings.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from handbook import markup

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGE_TYPES = DOCS / "_shared" / "page-types.toml"
LANGUAGES = ("en", "zh")
COLON = {"en": ": ", "zh": "："}


@dataclass(frozen=True)
class Section:
    en: str
    zh: str
    optional: bool = False
    subtitle: bool = False


@dataclass(frozen=True)
class PageType:
    en: str
    zh: str
    directory: str
    sections: tuple[Section, ...]


def load(path: Path = PAGE_TYPES) -> list[PageType]:
    with path.open("rb") as file:
        data = tomllib.load(file)
    return [
        PageType(
            entry["en"],
            entry["zh"],
            entry["directory"],
            tuple(Section(**section) for section in entry["sections"]),
        )
        for entry in data["type"]
    ]


TYPES = load()


def heading_problems(page: markup.Page, page_type: PageType, language: str) -> list[str]:
    """What is wrong with the level-2 headings of ``page``, one line each."""
    sections = list(page_type.sections)
    expected = " | ".join(getattr(section, language) for section in sections)
    problems = []
    position = 0
    for heading in (heading for heading in page.headings if heading.level == 2):
        for index in range(position, len(sections)):
            section = sections[index]
            name = getattr(section, language)
            if heading.text == name or (
                section.subtitle and heading.text.startswith(name + COLON[language])
            ):
                missing = [
                    getattr(skipped, language)
                    for skipped in sections[position:index]
                    if not skipped.optional
                ]
                if missing:
                    problems.append(
                        f"{page.path}:{heading.line}: {', '.join(map(repr, missing))} "
                        f"missing before {heading.text!r}"
                    )
                position = index + 1
                break
        else:
            problems.append(
                f"{page.path}:{heading.line}: '## {heading.text}' is not a {page_type.en} "
                f"section here; the sections are, in order: {expected}"
            )
    missing = [getattr(s, language) for s in sections[position:] if not s.optional]
    if missing:
        problems.append(f"{page.path}: missing section(s) {', '.join(map(repr, missing))}")
    return problems


def typed_pages() -> list[tuple[Path, PageType, str]]:
    return [
        (path, page_type, language)
        for language in LANGUAGES
        for page_type in TYPES
        for path in sorted((DOCS / language / page_type.directory).glob("*.md"))
        if path.name != "index.md"
    ]


@pytest.mark.parametrize(
    ("path", "page_type", "language"),
    typed_pages(),
    ids=lambda value: str(value.relative_to(DOCS)) if isinstance(value, Path) else "",
)
def test_page_uses_the_headings_of_its_type(path: Path, page_type: PageType, language: str) -> None:
    page = markup.parse_file(path, display_path=str(path.relative_to(ROOT)))
    problems = heading_problems(page, page_type, language)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_contributing_page_lists_the_same_headings(language: str) -> None:
    path = DOCS / language / "contributing.md"
    page = markup.parse_file(path)
    [start] = [t.line for t in page.targets if t.name == "contributing-page-types"]
    later = [t.line for t in page.targets if t.line > start]
    section = "\n".join(page.lines[start : min(later, default=len(page.lines))])
    for page_type in TYPES:
        name = getattr(page_type, language)
        assert f"\n{name}\n: " in section, f"{path}: no entry for the page type {name!r}"
        entry = section.split(f"\n{name}\n: ", 1)[1].split("\n\n", 1)[0]
        entry = re.sub(r"\s*\n\s*", " ", entry)
        quoted = [f"“{getattr(section, language)}”" for section in page_type.sections]
        positions = [entry.find(heading) for heading in quoted]
        assert -1 not in positions, (
            f"{path}: the {name} entry should name every heading, as {quoted}; "
            f"missing {[h for h, p in zip(quoted, positions, strict=True) if p == -1]}"
        )
        assert positions == sorted(positions), f"{path}: {name} headings out of order"


def test_sections_are_named_in_both_languages() -> None:
    for page_type in TYPES:
        assert (DOCS / "en" / page_type.directory).is_dir(), page_type.directory
        for section in page_type.sections:
            assert section.en, page_type.en
            assert section.zh, page_type.en


def test_a_wrong_or_missing_heading_is_reported() -> None:
    [pattern] = [t for t in TYPES if t.directory == "patterns"]
    headings = [s.zh for s in pattern.sections]
    headings[2] = "核心要点"
    headings[4] = "生产实践：anyio"
    text = "# 标题\n\n" + "".join(f"## {h}\n\n正文。\n\n" for h in headings[:-1])
    problems = heading_problems(markup.parse_text(text, "p.md"), pattern, "zh")
    assert problems == [
        "p.md:11: '## 核心要点' is not a Pattern section here; the sections are, in order: "
        + " | ".join(s.zh for s in pattern.sections),
        "p.md:15: '核心特性' missing before '错误写法与正确写法'",
        "p.md: missing section(s) '相关页面'",
    ]
