"""The site as a reader meets it, in Chromium: the language switch, search in
both languages, copying code, version badges, the 404 page, and screenshots
of a pattern page to look at (docs/_build/screenshots/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest
from handbook.markup import parse_file

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
PATTERN = "patterns/async-generator-cleanup"
OTHER = {"en": "zh", "zh": "en"}


def path_of(url: str) -> str:
    """The site-relative path of ``url``, e.g. "en/index.html"."""
    return urlparse(url).path.lstrip("/")


# ---------------------------------------------------------------- switch ---


@pytest.mark.parametrize("language", ["en", "zh"])
def test_switch_lands_on_the_same_page(new_page: Any, language: str) -> None:
    page = new_page()
    other = OTHER[language]
    for name in ("index", PATTERN, "faq/aclose-twice", "reference/shutdown", "errors/index"):
        page.goto(f"{language}/{name}.html")
        page.locator(".sidebar-drawer a[data-handbook-switch]").click()
        page.wait_for_url(f"**/{other}/{name}.html")
        assert page.locator("html").get_attribute("lang").startswith(other[:2])


@pytest.mark.parametrize("language", ["en", "zh"])
def test_switch_keeps_the_section(new_page: Any, language: str) -> None:
    page = new_page()
    other = OTHER[language]
    target = "error-task-destroyed-pending"
    # A permalink (the shared explicit target) is kept as it is.
    page.goto(f"{language}/errors/index.html#{target}")
    page.locator(".sidebar-drawer a[data-handbook-switch]").click()
    page.wait_for_url(f"**/{other}/errors/index.html#{target}")
    # furo scrolls smoothly: wait until the section is at the top.
    page.wait_for_function(
        "id => Math.abs(document.getElementById(id).getBoundingClientRect().top) < 120", arg=target
    )

    # A heading's own slug differs between languages: the switch goes to the
    # enclosing section's shared target instead.
    slug = page.evaluate(
        f"document.querySelector('#{target} > span[id]')?.id"
        f" || document.querySelector('#{target} h3').parentElement.id"
    )
    page.goto(f"{other}/errors/index.html#{slug}")
    page.locator(".sidebar-drawer a[data-handbook-switch]").click()
    page.wait_for_url(f"**/{language}/errors/index.html#{target}")

    # No hash at all: the section the reader has scrolled to.
    page.goto(f"{language}/errors/index.html")
    page.evaluate(f"document.getElementById('{target}').scrollIntoView({{behavior: 'instant'}})")
    page.locator(".sidebar-drawer a[data-handbook-switch]").click()
    page.wait_for_url(f"**/{other}/errors/index.html#{target}")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_switch_on_a_phone(new_page: Any, language: str) -> None:
    page = new_page(mobile=True)
    page.goto(f"{language}/{PATTERN}.html")
    switch = page.locator(".mobile-header a[data-handbook-switch]")
    assert switch.is_visible()
    box = switch.bounding_box()
    assert box is not None
    assert box["height"] >= 24, "the switch should be an easy tap target"
    switch.click()
    page.wait_for_url(f"**/{OTHER[language]}/{PATTERN}.html")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_hreflang_alternates_point_at_both_pages(new_page: Any, language: str) -> None:
    page = new_page()
    page.goto(f"{language}/{PATTERN}.html")
    alternates = page.eval_on_selector_all(
        'link[rel="alternate"][hreflang]', "links => links.map(l => [l.hreflang, l.href])"
    )
    assert sorted(path_of(href) for _, href in alternates) == [
        f"en/{PATTERN}.html",
        f"zh/{PATTERN}.html",
    ]
    assert sorted(lang for lang, _ in alternates) == ["en", "zh-Hans"]
    for _, href in alternates:
        assert page.request.get(href).ok


@pytest.mark.parametrize(
    ("locale", "language"), [("zh-CN", "zh"), ("en-GB", "en"), ("fr-FR", "en")]
)
def test_root_picks_the_browser_language(new_page: Any, locale: str, language: str) -> None:
    page = new_page(locale=locale)
    page.goto("index.html")
    page.wait_for_url(f"**/{language}/index.html")
    page.goto("index.html?stay")
    assert page.locator('a[hreflang="en"]').is_visible()
    assert page.locator('a[hreflang="zh-Hans"]').is_visible()


# ---------------------------------------------------------------- search ---


def search(page: Any, language: str, query: str) -> list[str]:
    """The site-relative paths of the first three results for ``query``."""
    page.goto(f"{language}/search.html?q={quote(query)}")
    page.wait_for_function(
        "() => document.querySelector('#search-results .search-summary')?.textContent.length > 0"
    )
    hrefs = page.eval_on_selector_all(
        "#search-results ul.search > li > a", "links => links.slice(0, 3).map(a => a.href)"
    )
    return [path_of(href).split("#")[0] for href in hrefs]


SEARCHES = [
    ("en", "aclose twice", "faq/aclose-twice"),
    ("en", "graceful shutdown", "reference/shutdown"),
    ("en", "shield", "patterns/shield"),
    ("en", "Task was destroyed but it is pending", "errors/index"),
    ("zh", "优雅关闭", "reference/shutdown"),
    ("zh", "异步生成器清理", PATTERN),
    ("zh", "超时 清理", "patterns/timeouts-and-cleanup"),
    ("zh", "取消任务", "misconceptions/cancelled-task-gets-generatorexit"),
    ("zh", "Task was destroyed but it is pending", "errors/index"),
]


# Readers arrive with a message from production in hand and paste it, up to
# its first part that varies (an object's name, an address, a count). The
# messages are English on both sites; each must find the page that explains
# it in the first three results, in both languages.
MESSAGES = [
    ("Exception ignored while closing generator <async_generator object", "errors/index"),
    ("Exception ignored while closing generator <coroutine object", "errors/index"),
    ("Exception ignored while finalizing generator <async_generator object", "errors/index"),
    ("Exception ignored while finalizing file <_io.FileIO", "errors/index"),
    ("RuntimeError: async generator raised StopAsyncIteration", "errors/index"),
    (
        "RuntimeError: async generator raised StopAsyncIteration",
        "case-studies/async-generator-raised-stopasynciteration",
    ),
    (
        "RuntimeError: Attempted to exit cancel scope in a different task than it was entered in",
        "errors/index",
    ),
    (
        "RuntimeError: Attempted to exit a cancel scope that isn't the current tasks's "
        "current cancel scope",
        "errors/index",
    ),
    ("an error occurred during closing of asynchronous generator", "errors/index"),
    ("ERROR:    ASGI callable returned without completing response.", "errors/index"),
    (
        "ERROR:    ASGI callable returned without completing response.",
        "faq/asgi-callable-returned-without-completing-response",
    ),
    ("ERROR:    Exception in ASGI application", "errors/index"),
    (
        "Error: The specified process cannot be attached to due to insufficient permissions.",
        "errors/index",
    ),
    (
        "aiohttp.client_exceptions.ClientPayloadError: Response payload is not completed",
        "errors/index",
    ),
    ("INFO:     Waiting for connections to close. (CTRL+C to force quit)", "errors/index"),
]

# What a Chinese reader types, without spaces, looking for each newer page.
UNSPACED_CHINESE = [
    ("版本变化", "versions"),
    ("术语表", "glossary"),
    ("程序不退出", "case-studies/why-wont-it-exit"),
    ("卡住不退出", "case-studies/why-wont-it-exit"),
    ("客户端断开", "patterns/streaming-responses"),
    ("流式响应", "patterns/streaming-responses"),
    ("吞掉GeneratorExit", "misconceptions/silencing-generatorexit-stops-the-work"),
    (
        "StopAsyncIteration变成RuntimeError",
        "case-studies/async-generator-raised-stopasynciteration",
    ),
    ("取消作用域", "case-studies/cancel-scope-in-a-different-task"),
    ("取消作用域", "patterns/bounding-a-close"),
    ("关闭超时", "patterns/bounding-a-close"),
    ("强制退出", "faq/second-ctrl-c-in-uvicorn"),
    ("第二次Ctrl+C", "faq/second-ctrl-c-in-uvicorn"),
    ("立刻取消请求", "faq/timeout-graceful-shutdown-zero"),
    ("timeout_graceful_shutdown设为0", "faq/timeout-graceful-shutdown-zero"),
    ("响应没有完成", "faq/asgi-callable-returned-without-completing-response"),
    ("Kubernetes宽限期", "faq/uvicorn-timeout-inside-grace-period"),
    ("退出码143", "faq/exit-code-after-sigterm"),
]


def assert_found(page: Any, language: str, query: str, expected: str) -> None:
    results = search(page, language, query)
    assert f"{language}/{expected}.html" in results, f"first results for {query!r}: {results}"


@pytest.mark.parametrize(("language", "query", "expected"), SEARCHES)
def test_search_finds_the_page(new_page: Any, language: str, query: str, expected: str) -> None:
    assert_found(new_page(), language, query, expected)


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize(("message", "expected"), MESSAGES)
def test_search_finds_the_message(
    new_page: Any, language: str, message: str, expected: str
) -> None:
    assert_found(new_page(), language, message, expected)


@pytest.mark.parametrize(("query", "expected"), UNSPACED_CHINESE)
def test_unspaced_chinese_query_finds_the_page(new_page: Any, query: str, expected: str) -> None:
    assert " " not in query
    assert_found(new_page(), "zh", query, expected)


def test_chinese_site_stems_latin_words_like_its_index(new_page: Any) -> None:
    """Latin words in the Chinese index are stemmed in English: so are queries."""
    page = new_page()
    search(page, "zh", "aclose")
    assert page.evaluate("new Stemmer().stemWord('generators')") == "generat"
    assert page.evaluate("Object.hasOwn(Search._index.terms, 'generat')")


@pytest.mark.parametrize(
    "query", ["优雅关闭", "异步生成器清理", "取消任务", "客户端断开", "取消作用域", "版本变化"]
)
def test_chinese_queries_are_split_into_index_terms(new_page: Any, query: str) -> None:
    page = new_page()
    search(page, "zh", query)
    terms = page.evaluate(
        "q => [handbookSplitQuery(q), Object.hasOwn(Search._index.terms, q)]", query
    )
    words, indexed_as_is = terms
    assert not indexed_as_is, "the query is a single index term: this test proves nothing"
    assert len(words) >= 2
    assert "".join(words) == query
    assert all(page.evaluate("w => Object.hasOwn(Search._index.terms, w)", w) for w in words)


def test_english_queries_pass_through(new_page: Any) -> None:
    page = new_page()
    search(page, "zh", "aclose")
    query = "Task was destroyed but it is pending!"
    assert page.evaluate("q => handbookSplitQuery(q)", query) == [
        "Task",
        "was",
        "destroyed",
        "but",
        "it",
        "is",
        "pending",
    ]


# --------------------------------------------------------------- copying ---


@pytest.mark.parametrize("language", ["en", "zh"])
def test_copied_code_is_the_code(new_page: Any, language: str) -> None:
    page = new_page()
    page.goto(f"{language}/{PATTERN}.html")
    source = parse_file(ROOT / "docs" / language / f"{PATTERN}.md")
    expected = [block.code for block in source.python_blocks]
    blocks = page.locator("div.highlight-python")
    assert blocks.count() == len(expected)
    for index, code in enumerate(expected):
        block = blocks.nth(index)
        block.scroll_into_view_if_needed()
        block.hover()
        block.locator("button.copybtn").click()
        copied = page.evaluate("navigator.clipboard.readText()")
        # The copy drops only the final newline of the block.
        assert copied + "\n" == code, f"python block {index + 1} copied differently"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_output_blocks_have_no_copy_button(new_page: Any, language: str) -> None:
    page = new_page()
    page.goto(f"{language}/{PATTERN}.html")
    page.wait_for_selector("div.highlight-python button.copybtn", state="attached")
    outputs = page.locator("div.output")
    assert outputs.count() > 0
    assert page.locator("div.output button.copybtn").count() == 0
    python = page.locator("div.highlight-python").count()
    assert page.locator("div.highlight-python button.copybtn").count() == python


@pytest.mark.parametrize("language", ["en", "zh"])
def test_version_badge_on_a_gated_block(new_page: Any, language: str) -> None:
    page = new_page()
    page.goto(f"{language}/{PATTERN}.html")
    source = parse_file(ROOT / "docs" / language / f"{PATTERN}.md")
    gated = [example for example in source.examples if example.requires_python]
    assert gated, "the pattern page should have a version-gated example"
    badges = page.locator(".handbook-badge-python")
    assert badges.count() == len(gated)
    badge = badges.first
    badge.scroll_into_view_if_needed()
    assert badge.is_visible()
    assert re.fullmatch(r"Python (3\.\d+\+|[<>=≠]+ ?3\.\d+)", badge.inner_text())
    # The badge sits directly above its example.
    follows = badge.evaluate(
        "b => b.closest('.handbook-example-notes').nextElementSibling.classList"
        ".contains('highlight-python')"
    )
    assert follows


# ------------------------------------------------------------ navigation ---


@pytest.mark.parametrize("language", ["en", "zh"])
def test_home_reaches_errors_and_reference(new_page: Any, language: str) -> None:
    page = new_page()
    page.goto(f"{language}/index.html")
    # The error-message index is one click from the home page.
    page.locator(".handbook-errors-callout a").first.click()
    page.wait_for_url(f"**/{language}/errors/index.html")
    page.goto(f"{language}/index.html")
    cards = page.locator(".handbook-card")
    assert cards.count() >= 6
    assert page.locator(".handbook-path li").count() >= 3
    page.locator(".sidebar-tree a[href$='reference/index.html']").click()
    page.wait_for_url(f"**/{language}/reference/index.html")
    page.locator("article a[href$='shutdown.html']").first.click()
    page.wait_for_url(f"**/{language}/reference/shutdown.html")


def test_whole_card_is_a_link(new_page: Any) -> None:
    page = new_page()
    page.goto("en/index.html")
    card = page.locator(".handbook-card").first
    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    assert box is not None
    # Click near the bottom right corner of the card, away from the title.
    page.mouse.click(box["x"] + box["width"] - 10, box["y"] + box["height"] - 10)
    page.wait_for_url("**/en/patterns/index.html")


@pytest.mark.parametrize("depth", ["nowhere.html", "en/patterns/gone.html", "zh/a/b/c/gone.html"])
def test_404_page_links_work_from_any_depth(new_page: Any, console: Any, depth: str) -> None:
    console.allow("404")
    page = new_page()
    response = page.goto(depth)
    assert response is not None
    assert response.status == 404
    page.wait_for_selector("html[data-site-root]", state="attached")
    if depth.count("/") == 2:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "404.png")
    for path in ("en/index.html", "zh/index.html", "en/errors/index.html", "zh/errors/index.html"):
        href = page.locator(f'a[data-site-path="{path}"]').evaluate("a => a.href")
        assert path_of(href) == path
        assert page.request.get(href).ok
    page.locator('section[data-language="en"] input[name="q"]').fill("aclose twice")
    page.locator('section[data-language="en"] button[type="submit"]').click()
    page.wait_for_url("**/en/search.html?q=aclose+twice")


# ----------------------------------------------------------- screenshots ---


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_screenshots(new_page: Any, language: str, theme: str) -> None:
    """Pictures to look at: docs/_build/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = new_page(theme=theme)
    page.goto(f"{language}/{PATTERN}.html")
    assert page.locator("body").get_attribute("data-theme") == theme
    page.screenshot(path=SCREENSHOTS / f"pattern-{language}-{theme}-top.png")
    # An example with its version badge and its output block.
    page.locator(".handbook-example-notes").first.evaluate(
        "e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 120)"
    )
    page.screenshot(path=SCREENSHOTS / f"pattern-{language}-{theme}-example.png")
    page.goto(f"{language}/index.html")
    page.screenshot(path=SCREENSHOTS / f"home-{language}-{theme}.png", full_page=True)
    phone = new_page(theme=theme, mobile=True)
    phone.goto(f"{language}/{PATTERN}.html")
    phone.screenshot(path=SCREENSHOTS / f"pattern-{language}-{theme}-phone.png")
