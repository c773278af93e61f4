"""Publishing a staged build: the site becomes a copy of the staging directory."""

from __future__ import annotations

import os
from pathlib import Path

from handbook.build import synchronise


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def tree(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_site_becomes_a_copy_of_the_staged_build(tmp_path: Path) -> None:
    staged, site = tmp_path / "staging", tmp_path / "html"
    write(staged / "index.html", "home")
    write(staged / "patterns" / "a.html", "a")
    write(staged / "_static" / "style.css", "css")
    synchronise(staged, site)
    assert tree(site) == tree(staged)

    # A page changes, one is added, one goes away with its directory.
    write(staged / "index.html", "home, edited")
    write(staged / "faq" / "b.html", "b")
    (staged / "patterns" / "a.html").unlink()
    (staged / "patterns").rmdir()
    synchronise(staged, site)
    assert tree(site) == tree(staged)
    assert not (site / "patterns").exists()


def test_a_file_with_the_same_size_and_time_is_not_copied_again(tmp_path: Path) -> None:
    staged, site = tmp_path / "staging", tmp_path / "html"
    write(staged / "page.html", "page")
    synchronise(staged, site)
    # Same size, same time, other bytes: left alone, so the bytes stay.
    write(site / "page.html", "PAGE")
    os.utime(site / "page.html", ns=(1, 1))
    os.utime(staged / "page.html", ns=(1, 1))
    synchronise(staged, site)
    assert (site / "page.html").read_text(encoding="utf-8") == "PAGE"
    # Another time (Sphinx wrote the page again): copied.
    os.utime(staged / "page.html", ns=(2, 2))
    synchronise(staged, site)
    assert (site / "page.html").read_text(encoding="utf-8") == "page"


def test_a_file_where_a_directory_was_and_back(tmp_path: Path) -> None:
    staged, site = tmp_path / "staging", tmp_path / "html"
    write(staged / "thing" / "inner.html", "inner")
    synchronise(staged, site)
    (staged / "thing" / "inner.html").unlink()
    (staged / "thing").rmdir()
    write(staged / "thing", "now a file")
    synchronise(staged, site)
    assert tree(site) == {"thing": "now a file"}
    (staged / "thing").unlink()
    write(staged / "thing" / "inner.html", "a directory again")
    synchronise(staged, site)
    assert tree(site) == {"thing/inner.html": "a directory again"}
