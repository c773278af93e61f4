"""Fixtures for the browser tests: the built site served on 127.0.0.1, and
Debian's Chromium driven by Playwright.

These tests run in ``nox -s browser`` (which builds the site and sets
HANDBOOK_BROWSER=1). Anywhere else they are not collected at all, so a plain
``pytest`` or ``nox -s tests`` neither needs Chromium nor reports skips. In the
browser session nothing is skipped: a missing Chromium, Playwright or site is
a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs" / "_build" / "html"
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
CHROMIUM = Path(os.environ.get("HANDBOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

if not os.environ.get("HANDBOOK_BROWSER"):
    collect_ignore_glob = ["test_*.py"]


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site; a missing file gets the site's 404 page, as a host would."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = SITE / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "en" / "index.html").is_file() or not (SITE / "zh" / "index.html").is_file():
        pytest.fail(
            f"no built site in {SITE}: build it first "
            "(PYTHONPATH=docs/_shared python -m handbook.build, or nox -s browser)"
        )
    return SITE


@pytest.fixture(scope="session")
def base_url(site: Path) -> Iterator[str]:
    handler = functools.partial(SiteHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: use nox -s browser (dependency group 'browser')")
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install chromium) or set HANDBOOK_CHROMIUM"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """Errors a page reported: console.error messages and uncaught exceptions."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def watch(self, page: Any) -> None:
        page.on(
            "console",
            lambda message: (
                message.type == "error" and self.errors.append(f"{page.url}: {message.text}")
            ),
        )
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def allow(self, text: str) -> None:
        """Expect console errors containing ``text`` (a 404 page's own status)."""
        self.allowed.append(text)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(text in e for text in self.allowed)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def new_page(browser: Any, base_url: str, console: Console) -> Iterator[Any]:
    """A factory of pages: ``new_page(theme="dark", locale="zh-CN", mobile=False)``.

    Every page's console errors are collected; the test fails if there are any.
    """
    contexts: list[Any] = []

    def make(theme: str | None = None, locale: str = "en-US", mobile: bool = False) -> Any:
        options: dict[str, Any] = {"base_url": base_url, "locale": locale}
        if mobile:
            options.update(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        else:
            options.update(viewport={"width": 1280, "height": 900})
        context = browser.new_context(**options)
        context.grant_permissions(
            ["clipboard-read", "clipboard-write"], origin=base_url.rstrip("/")
        )
        if theme:
            context.add_init_script(f"localStorage.setItem('theme', '{theme}');")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        console.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()
    unexpected = console.unexpected()
    assert not unexpected, "console errors:\n" + "\n".join(unexpected)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = getattr(config, "_handbook_weight_report", None)
    if report:
        terminalreporter.write_sep("-", "page weight (HTML + CSS + JS)")
        for line in report:
            terminalreporter.write_line(line)
