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

See {{py:func}}`asyncio.run` and {{py:class}}`contextlib.aclosing`.

第一行中文
接着第二行。

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


def test_badge_text_reads_naturally() -> None:
    from handbook.sphinx_ext import badge_text

    assert badge_text(">=3.11") == "3.11+"
    assert badge_text("<3.12") == "< 3.12"
    assert badge_text("==3.11.*") == "3.11"
    assert badge_text("!=3.11.*") == "≠ 3.11"
    assert badge_text(">=3.11,<3.13") == "3.11+, < 3.13"
