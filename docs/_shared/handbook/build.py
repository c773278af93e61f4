"""Build the site: both languages, then the root page that picks one.

    python -m handbook.build [sphinx options...]
    python -m handbook.build --stage-only [sphinx options...]
    python -m handbook.build --publish-only

Each language is its own Sphinx project (shared configuration in
docs/_shared); both are built with ``-W --keep-going -n`` at the same time,
with their doctrees kept in docs/_build/doctrees for fast incremental
rebuilds.  Sphinx writes into docs/_build/staging/<language>; publishing
copies what changed from there into the site, docs/_build/html/<language>,
and adds the root pages.  Without an option the build is published at once.

``nox -s docs`` builds with ``--stage-only`` (at a lower priority) while the
examples are verified, and publishes with ``--publish-only`` only once every
example has passed: the site is never built from a failing example (DESIGN
§8), and the build costs little more than the time the examples leave the
processors idle.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from handbook.config import LANGUAGES

DOCS = Path(__file__).resolve().parents[2]
BUILD = DOCS / "_build"
HTML = BUILD / "html"
STAGING = BUILD / "staging"
STRICT = ["-W", "--keep-going", "-n"]
#: How much lower a ``--stage-only`` build's priority is (os.nice).
BACKGROUND_NICENESS = 10


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
        str(STAGING / language),
    ]


def stage(extra: list[str]) -> int:
    """Build both languages into the staging directory; 0 when both succeed."""
    processes = [
        (language, subprocess.Popen(sphinx_command(language, extra))) for language in LANGUAGES
    ]
    failed = [language for language, process in processes if process.wait() != 0]
    if failed:
        print(f"docs build failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def publish() -> None:
    """Make the staged build the site: copy what changed, remove what is gone."""
    for language in LANGUAGES:
        if not (STAGING / language / "index.html").is_file():
            raise SystemExit(f"nothing staged for {language}: run python -m handbook.build")
    for language in LANGUAGES:
        synchronise(STAGING / language, HTML / language)
    # The root pages: index.html picks a language, 404.html is what hosts
    # serve for a missing URL at any depth.
    for page in sorted((DOCS / "_shared" / "root").glob("*.html")):
        shutil.copyfile(page, HTML / page.name)
    print(f"Site built: open {HTML / 'index.html'}")


def synchronise(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source``, copying only files that differ."""
    present: set[Path] = set()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        present.add(relative)
        destination = target / relative
        if path.is_dir():
            if destination.is_file() or destination.is_symlink():
                destination.unlink()
            destination.mkdir(parents=True, exist_ok=True)
            continue
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        if not _same_file(path, destination):
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    if not target.is_dir():
        return
    # Deepest first, so a directory is empty by the time it is removed.
    for path in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.relative_to(target) in present:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _same_file(source: Path, destination: Path) -> bool:
    try:
        theirs = destination.stat()
    except FileNotFoundError:
        return False
    ours = source.stat()
    # copy2 keeps the modification time, so an unchanged file matches.
    return ours.st_size == theirs.st_size and ours.st_mtime_ns == theirs.st_mtime_ns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--stage-only",
        action="store_true",
        help="build into docs/_build/staging at a lower priority; do not publish",
    )
    mode.add_argument(
        "--publish-only",
        action="store_true",
        help="publish the staged build into docs/_build/html without building",
    )
    options, extra = parser.parse_known_args(argv)
    if options.publish_only:
        publish()
        return 0
    if options.stage_only and hasattr(os, "nice"):
        os.nice(BACKGROUND_NICENESS)
    status = stage(extra)
    if status == 0 and not options.stage_only:
        publish()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
