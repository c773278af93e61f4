"""What readers see of the markup: badges, notes, the language switch, links.

Builds a two-page site in both languages with the real shared configuration
and reads the HTML.  Sphinx 9 needs Python 3.11+, so on 3.10 these are skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from handbook.config import LANGUAGE_SETTINGS, LANGUAGES

pytest.importorskip("sphinx", reason="the docs toolchain (Sphinx 9) needs Python 3.11+")

SHARED = Path(__file__).resolve().parents[2] / "docs" / "_shared"

TITLES = {"en": "Demo", "zh": "演示"}


def page_text(language: str) -> str:
    caption, title = LANGUAGE_SETTINGS[language].output_caption, TITLES[language]
    fence = "```"
    return f"""\
(demo)=
# {title}

See {{py:func}}`asyncio.run` and {{py:func}}`contextlib.aclosing`.

第一行中文
接着第二行。

先写 asyncio
再写中文，
然后继续写
第三行。
`loop.close()` 之后
不能再用，见
{{ref}}`demo`。

% requires-python: >=3.11
{fence}python
import asyncio

print(asyncio.timeout.__name__)
{fence}

{fence}{{code-block}} text
:class: output
:caption: {caption}
timeout
{fence}

% continued
{fence}python
print("again")
{fence}

{fence}{{code-block}} text
:class: output
:caption: {caption}
again
{fence}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    for language in LANGUAGES:
        source = root / "src" / language
        (source / "guide").mkdir(parents=True)
        (source / "conf.py").write_text(
            f"import sys\nsys.path.insert(0, {str(SHARED)!r})\n"
            "from handbook.sphinx_conf import configure\n"
            f"globals().update(configure({language!r}))\n",
            encoding="utf-8",
        )
        (source / "index.md").write_text(
            "# Home\n\n```{toctree}\nguide/demo\n```\n", encoding="utf-8"
        )
        (source / "guide" / "demo.md").write_text(page_text(language), encoding="utf-8")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "sphinx",
                "-b",
                "html",
                "-W",
                "--keep-going",
                "-n",
                "-q",
                str(source),
                str(root / "html" / language),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    return root / "html"


def test_gated_example_shows_a_version_badge(site: Path) -> None:
    html = (site / "en" / "guide" / "demo.html").read_text(encoding="utf-8")
    assert '<span class="handbook-badge handbook-badge-python">Python 3.11+</span>' in html


def test_continued_example_shows_a_note_in_the_page_language(site: Path) -> None:
    english = (site / "en" / "guide" / "demo.html").read_text(encoding="utf-8")
    chinese = (site / "zh" / "guide" / "demo.html").read_text(encoding="utf-8")
    assert "Continues the previous example" in english
    assert "接上一个示例" in chinese


def test_language_switch_lands_on_the_same_page(site: Path) -> None:
    english = (site / "en" / "guide" / "demo.html").read_text(encoding="utf-8")
    chinese = (site / "zh" / "guide" / "demo.html").read_text(encoding="utf-8")
    assert 'href="../../zh/guide/demo.html" hreflang="zh-Hans"' in english
    assert 'href="../../en/guide/demo.html" hreflang="en"' in chinese
    assert '<link rel="alternate" hreflang="zh-Hans" href="../../zh/guide/demo.html">' in english
    assert '<link rel="alternate" hreflang="en" href="../../en/guide/demo.html">' in chinese


def test_chinese_pages_have_chinese_interface_text(site: Path) -> None:
    chinese = (site / "zh" / "guide" / "demo.html").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in chinese
    for label in ("上一页", "跳到正文", "回到顶部"):
        assert label in chinese, label


def test_stdlib_names_link_to_docs_python_org_offline(site: Path) -> None:
    html = (site / "en" / "guide" / "demo.html").read_text(encoding="utf-8")
    assert 'href="https://docs.python.org/3/library/asyncio-runner.html#asyncio.run"' in html
    assert 'href="https://docs.python.org/3/library/contextlib.html#contextlib.aclosing"' in html


def test_output_blocks_are_not_given_copy_buttons(site: Path) -> None:
    script = (site / "en" / "_static" / "copybutton.js").read_text(encoding="utf-8")
    # copybutton pastes the selector into a single-quoted JavaScript string.
    selector = 'div[class*="highlight-"]:not(.output) > div.highlight > pre'
    assert f"const COPYBUTTON_SELECTOR = '{selector}';" in script
    html = (site / "en" / "guide" / "demo.html").read_text(encoding="utf-8")
    assert 'class="output highlight-text notranslate"' in html


def test_chinese_search_index_holds_chinese_words(site: Path) -> None:
    text = (site / "zh" / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text.removeprefix("Search.setIndex(").removesuffix(")"))
    assert "演示" in index["titleterms"]
    # Body text is segmented into words, not indexed as whole sentences.
    assert "运行" in index["terms"]


def test_line_breaks_between_chinese_characters_are_dropped(site: Path) -> None:
    chinese = (site / "zh" / "guide" / "demo.html").read_text(encoding="utf-8")
    assert "第一行中文接着第二行。" in chinese


def test_every_stray_line_break_of_a_paragraph_is_dropped(site: Path) -> None:
    from handbook.linebreaks import stray_breaks

    chinese = (site / "zh" / "guide" / "demo.html").read_text(encoding="utf-8")
    # The first break (after Latin text) stays a space; every later one that
    # would show as a stray space goes, including those next to code and links.
    assert "先写 asyncio\n再写中文，然后继续写第三行。<code" in chinese
    assert "</code> 之后不能再用，见<a" in chinese
    assert stray_breaks(chinese) == []


def test_line_breaks_are_judged_by_the_characters_around_them() -> None:
    from docutils import nodes
    from handbook.sphinx_ext import join_chinese_lines, join_line_breaks

    assert join_line_breaks("一\n二\n三") == "一二三"
    assert join_line_breaks("关闭了。\n", after="l") == "关闭了。"
    assert join_line_breaks("\n", before="。", after="l") == ""
    assert join_line_breaks("\n", before="见", after="演") == ""
    assert join_line_breaks("\n", before="o", after="再") == "\n"
    assert join_line_breaks("two\nwords") == "two\nwords"
    # Soft breaks are separate, equal text nodes: each is judged by its own
    # neighbours, not by those of the first equal node in the paragraph.
    paragraph = nodes.paragraph()
    for part in ("asyncio", "\n", "甲", "\n", "乙。", "\n"):
        paragraph += nodes.Text(part)
    paragraph += nodes.literal("", "loop.close()")
    document = nodes.document(None, None)
    document += paragraph
    join_chinese_lines(None, document)  # type: ignore[arg-type]
    assert paragraph.astext() == "asyncio\n甲乙。loop.close()"


def test_badge_text_reads_naturally() -> None:
    from handbook.sphinx_ext import badge_text

    assert badge_text(">=3.11") == "3.11+"
    assert badge_text("<3.12") == "< 3.12"
    assert badge_text("==3.11.*") == "3.11"
    assert badge_text("!=3.11.*") == "≠ 3.11"
    assert badge_text(">=3.11,<3.13") == "3.11+, < 3.13"
