"""No source line break reaches a page where it would show as a stray space.

Runs on the built site (``nox -s browser`` builds it): in both languages,
every page's running text has no line break between two Chinese characters
and none next to full-width punctuation ("关闭了。" then code or a link).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from handbook.linebreaks import stray_breaks


def pages(site: Path) -> list[Path]:
    return [
        path
        for language in ("en", "zh")
        for path in sorted((site / language).rglob("*.html"))
        if not {"_static", "_modules", "_sources"} & set(path.parts)
    ]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_no_line_break_shows_as_a_stray_space(site: Path, language: str) -> None:
    checked = [path for path in pages(site) if path.relative_to(site).parts[0] == language]
    assert len(checked) > 50, f"only {len(checked)} pages in {site / language}"
    found = [
        f"{path.relative_to(site)}: {problem}"
        for path in checked
        for problem in stray_breaks(path.read_text(encoding="utf-8"))
    ]
    assert not found, f"{len(found)} stray line breaks:\n" + "\n".join(found)
