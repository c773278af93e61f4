"""Chinese pages use the glossary's one term per concept.

docs/_shared/glossary.toml lists, for each concept, the Chinese term and the
renderings not to use.  Every Chinese page is read through
:func:`handbook.markup.words` (prose, headings and python comments; never
code, output blocks, inline code or link targets) and any listed rendering
fails, naming the file, the line, the rendering and the term to use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from handbook import glossary, markup

ROOT = Path(__file__).resolve().parents[2]
ZH = ROOT / "docs" / "zh"
PAGES = sorted(ZH.rglob("*.md"))
TERMS = glossary.load()


def problems(page: markup.Page, terms: list[glossary.Term]) -> list[str]:
    found = []
    for words in markup.words(page):
        for misuse in glossary.misuses(words.text, terms):
            found.append(
                f"{page.path}:{words.line}: {words.kind} uses {misuse.variant!r}; "
                f"write {misuse.term.zh!r} ({misuse.term.en})"
            )
    return found


@pytest.mark.parametrize("path", PAGES, ids=lambda path: str(path.relative_to(ZH)))
def test_chinese_page_uses_the_glossary_terms(path: Path) -> None:
    page = markup.parse_file(path, display_path=str(path.relative_to(ROOT)))
    found = problems(page, TERMS)
    assert not found, "\n".join(found)


def test_glossary_entries_are_complete_and_unambiguous() -> None:
    preferred = {term.zh for term in TERMS}
    labels = set()
    for path in (ROOT / "docs" / "en").rglob("*.md"):
        labels.update(target.name for target in markup.parse_file(path).targets)
    for term in TERMS:
        assert term.page in labels, f"{term.en}: no page has the label {term.page!r}"
        for definition in (term.en_definition, term.zh_definition):
            assert definition, term.en
            assert definition.count("`") % 2 == 0, f"{term.en}: unbalanced ` in {definition!r}"
        for variant in term.avoid:
            # A variant inside a preferred term would flag every correct use.
            clashes = [zh for zh in preferred if glossary.misuses(zh, [term])]
            assert not clashes, f"{term.en}: variant {variant!r} matches the term(s) {clashes}"
    assert len({term.anchor for term in TERMS}) == len(TERMS)


def test_a_variant_is_reported_with_file_line_and_preferred_term() -> None:
    text = (
        "(demo)=\n"
        "# 终结钩子\n"
        "\n"
        "第一行没有问题。进程管理器会发 SIGTERM。\n"
        "这里写了 `finalizer` 和 {ref}`job-worker-loses-jobs`，都不算；宽限时间不对。\n"
        "\n"
        "```python\n"
        "import sys  # 登记一下\n"
        "job = '消费方'\n"
        "```\n"
    )
    found = problems(markup.parse_text(text, "docs/zh/demo.md"), TERMS)
    assert found == [
        "docs/zh/demo.md:2: heading uses '终结钩子'; write '终结器' (finalizer)",
        "docs/zh/demo.md:5: prose uses '宽限时间'; write '宽限期' (grace period)",
        "docs/zh/demo.md:8: comment uses '登记'; write '注册' (register)",
    ]


def test_english_variants_match_whole_words_only() -> None:
    [job] = [term for term in TERMS if term.en == "job"]
    assert [m.variant for m in glossary.misuses("三个 job 排队", [job])] == ["job"]
    assert glossary.misuses("jobless 与 job_id、job-worker", [job]) == []
    assert [m.variant for m in glossary.misuses("作业Jobs", [job])] == ["jobs"]


def test_allow_list_keeps_a_longer_phrase() -> None:
    term = glossary.Term("x", "甲", "", "", "p", avoid=("管理程序",), allow=("文件管理程序",))
    assert glossary.misuses("文件管理程序", [term]) == []
    assert [m.variant for m in glossary.misuses("管理程序", [term])] == ["管理程序"]
