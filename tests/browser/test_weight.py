"""Page weight: each page's HTML, CSS and JavaScript, fonts and images aside.

Counted from the built files: the page itself plus every stylesheet and
script it links (search pages include the search index). "Transferred" is
measured as hosts send text, gzip-compressed; the raw size is reported too.
The heaviest page is printed at the end of the session.
"""

from __future__ import annotations

import gzip
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

SITE = Path(__file__).resolve().parents[2] / "docs" / "_build" / "html"
BUDGET = 300 * 1024


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"] or "")
        elif tag == "link" and "stylesheet" in (attributes.get("rel") or "").split():
            self.urls.append(attributes.get("href") or "")


def assets(page: Path) -> list[Path]:
    """The local CSS and JS files ``page`` loads."""
    parser = _Assets()
    parser.feed(page.read_text(encoding="utf-8"))
    found = []
    for url in parser.urls:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            pytest.fail(f"{page.relative_to(SITE)} loads {url} from another site")
        path = (page.parent / parts.path).resolve()
        assert path.is_file(), f"{page.relative_to(SITE)} links a missing file: {url}"
        found.append(path)
    return found


@cache
def sizes(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return len(data), len(gzip.compress(data, compresslevel=6, mtime=0))


def weigh(page: Path) -> tuple[int, int]:
    files = [page, *dict.fromkeys(assets(page))]
    raw = sum(sizes(path)[0] for path in files)
    transferred = sum(sizes(path)[1] for path in files)
    return raw, transferred


def _pages() -> list[Path]:
    return sorted(path for path in SITE.rglob("*.html") if "_static" not in path.parts)


def test_every_page_is_light(request: Any) -> None:
    pages = _pages()
    assert len(pages) > 20, f"no built site in {SITE}"
    weights = {page: weigh(page) for page in pages}
    heavy = {page: w for page, w in weights.items() if w[1] > BUDGET}
    ranked = sorted(weights.items(), key=lambda item: item[1][1], reverse=True)
    report = [
        f"{len(pages)} pages; budget {BUDGET // 1024} KB transferred (gzip) per page",
        "heaviest:",
    ]
    for page, (raw, transferred) in ranked[:5]:
        report.append(
            f"  {page.relative_to(SITE)}: {transferred / 1024:.1f} KB transferred, "
            f"{raw / 1024:.1f} KB uncompressed"
        )
    request.config._handbook_weight_report = report
    print("\n".join(report))
    assert not heavy, "pages over budget:\n" + "\n".join(
        f"{page.relative_to(SITE)}: {w[1] / 1024:.1f} KB" for page, w in heavy.items()
    )


def test_the_browser_loads_only_what_is_counted(new_page: Any) -> None:
    """The static count above sees everything the browser fetches."""
    for name in ("en/patterns/async-generator-cleanup.html", "zh/search.html"):
        page = new_page()
        page.goto(f"{name}?q=aclose" if name.endswith("search.html") else name)
        page.wait_for_load_state("networkidle")
        loaded = page.evaluate(
            "performance.getEntriesByType('resource')"
            ".filter(e => ['script', 'link', 'css'].includes(e.initiatorType))"
            ".map(e => new URL(e.name).pathname)"
        )
        counted = {"/" + str(path.relative_to(SITE)) for path in assets(SITE / name)}
        assert set(loaded) <= counted, f"{name} loads uncounted files: {set(loaded) - counted}"
