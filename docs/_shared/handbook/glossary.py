"""The bilingual glossary: one Chinese term per concept.

The data is ``docs/_shared/glossary.toml`` (see the comment at its top).  This
module reads it for two users:

* the terminology test (``tests/tooling/test_terminology.py``), through
  :func:`load` and :func:`misuses`: a Chinese page must not use a rendering
  the glossary lists under ``avoid``;
* the glossary page of each language, through the ``handbook-glossary``
  directive registered by :func:`setup` (Sphinx is imported only there, so
  the test runs on every Python the handbook supports).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

GLOSSARY = Path(__file__).resolve().parents[1] / "glossary.toml"

_FIELDS = ("en", "zh", "en_definition", "zh_definition", "page", "avoid")
_WORDLIKE = re.compile(r"[A-Za-z0-9 -]+")


@dataclass(frozen=True)
class Term:
    en: str
    zh: str
    en_definition: str
    zh_definition: str
    page: str
    avoid: tuple[str, ...]
    allow: tuple[str, ...] = ()

    @property
    def anchor(self) -> str:
        """The id of the term on the glossary page, e.g. ``term-grace-period``."""
        return "term-" + re.sub(r"[^a-z0-9]+", "-", self.en.lower()).strip("-")


@dataclass(frozen=True)
class Misuse:
    """A rendering the glossary says not to use, found in a piece of text."""

    variant: str
    term: Term
    start: int
    end: int


def load(path: Path = GLOSSARY) -> list[Term]:
    """Every term of the glossary, in the order of the file."""
    with path.open("rb") as file:
        data = tomllib.load(file)
    terms = []
    for number, entry in enumerate(data.get("term", []), start=1):
        missing = [name for name in _FIELDS if name not in entry]
        unknown = sorted(set(entry) - set(_FIELDS) - {"allow"})
        if missing or unknown:
            raise ValueError(
                f"{path}: term {number} ({entry.get('en', '?')}): "
                f"missing {missing or 'nothing'}, unknown {unknown or 'nothing'}"
            )
        terms.append(
            Term(
                en=entry["en"],
                zh=entry["zh"],
                en_definition=entry["en_definition"],
                zh_definition=entry["zh_definition"],
                page=entry["page"],
                avoid=tuple(entry["avoid"]),
                allow=tuple(entry.get("allow", ())),
            )
        )
    return terms


def _pattern(variant: str) -> re.Pattern[str]:
    if _WORDLIKE.fullmatch(variant):
        # A word: whole words only, any case, spaces may be any run of blanks.
        words = r"[ \t]+".join(re.escape(word) for word in variant.split())
        return re.compile(rf"(?<![A-Za-z0-9_-]){words}(?![A-Za-z0-9_-])", re.IGNORECASE)
    return re.compile(re.escape(variant))


def misuses(text: str, terms: list[Term]) -> list[Misuse]:
    """The renderings to avoid that ``text`` uses, in order of position."""
    found = []
    for term in terms:
        allowed = [
            (match.start(), match.end())
            for phrase in term.allow
            for match in re.finditer(re.escape(phrase), text)
        ]
        for variant in term.avoid:
            for match in _pattern(variant).finditer(text):
                if any(start <= match.start() and match.end() <= end for start, end in allowed):
                    continue
                found.append(Misuse(variant, term, match.start(), match.end()))
    return sorted(found, key=lambda misuse: (misuse.start, misuse.end))


# --- Sphinx: the glossary page -------------------------------------------

_TEXT = {
    "en": {"page": "Explained in: ", "zh": "Chinese: ", "avoid": ""},
    "zh": {"page": "详见：", "zh": "", "avoid": "不用："},
}


def _inline(text: str) -> list[Any]:
    """``text`` as docutils nodes: `backticks` become inline code."""
    from docutils import nodes

    parts = text.split("`")
    return [
        nodes.literal("", part) if index % 2 else nodes.Text(part)
        for index, part in enumerate(parts)
        if part
    ]


def _entries(language: str) -> list[Any]:
    from docutils import nodes
    from sphinx import addnodes

    text = _TEXT[language]
    items = []
    for term in load():
        if language == "zh":
            label = nodes.term("", "", nodes.strong("", term.zh), nodes.Text(f"（{term.en}）"))
            definition = term.zh_definition
        else:
            label = nodes.term("", "", nodes.strong("", term.en), nodes.Text(f" — {term.zh}"))
            definition = term.en_definition
        label["ids"].append(term.anchor)
        reference = addnodes.pending_xref(
            "",
            nodes.inline("", term.page),
            refdomain="std",
            reftype="ref",
            reftarget=term.page,
            refexplicit=False,
            refwarn=True,
        )
        body = nodes.definition("", nodes.paragraph("", "", *_inline(definition)))
        body += nodes.paragraph("", "", nodes.Text(text["page"]), reference)
        if language == "zh" and term.avoid:
            avoid = nodes.paragraph("", text["avoid"], classes=["handbook-glossary-avoid"])
            for index, variant in enumerate(term.avoid):
                if index:
                    avoid += nodes.Text("、")
                avoid += nodes.literal("", variant)
            body += avoid
        items.append(nodes.definition_list_item("", label, body))
    return [nodes.definition_list("", *items, classes=["handbook-glossary"])]


def setup(app: Any) -> dict[str, Any]:
    from sphinx.util.docutils import SphinxDirective

    class GlossaryDirective(SphinxDirective):
        """``{handbook-glossary}``: every term of glossary.toml, in the page's language."""

        has_content = False

        def run(self) -> list[Any]:
            self.env.note_dependency(str(GLOSSARY))
            return _entries(self.config.handbook_language)

    app.add_directive("handbook-glossary", GlossaryDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
