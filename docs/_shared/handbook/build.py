"""Build the site: both languages, then the root page that picks one.

    python -m handbook.build [--serve-language en] [sphinx options...]

Each language is its own Sphinx project (shared configuration in
docs/_shared); both are built with ``-W --keep-going -n`` at the same time,
into docs/_build/html/en and docs/_build/html/zh, with their doctrees kept
for fast incremental rebuilds.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from handbook.config import LANGUAGES

DOCS = Path(__file__).resolve().parents[2]
BUILD = DOCS / "_build"
HTML = BUILD / "html"
STRICT = ["-W", "--keep-going", "-n"]


def sphinx_command(language: str, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        *STRICT,
        "-q",
        "-d",
        str(BUILD / "doctrees" / language),
        *extra,
        str(DOCS / language),
        str(HTML / language),
    ]


def build(extra: list[str]) -> int:
    processes = [
        (language, subprocess.Popen(sphinx_command(language, extra))) for language in LANGUAGES
    ]
    failed = [language for language, process in processes if process.wait() != 0]
    if failed:
        print(f"docs build failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    # The root pages: index.html picks a language, 404.html is what hosts
    # serve for a missing URL at any depth.
    for page in sorted((DOCS / "_shared" / "root").glob("*.html")):
        shutil.copyfile(page, HTML / page.name)
    print(f"Site built: open {HTML / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _, extra = parser.parse_known_args(argv)
    return build(extra)


if __name__ == "__main__":
    raise SystemExit(main())
