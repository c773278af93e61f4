"""Incremental verification: run only the examples whose inputs changed (DESIGN §8).

An example's result depends on its page (its code, the code of the blocks
it continues, its markers and its output block; the page's path is part of
the key too, its line is not) and on the session it runs
in: the interpreter, the installed distributions and their versions, the
tooling's sources, aiocleanup's sources, the services the session started,
the runner and the time bound.  :func:`example_key` hashes all of that into
one key.

The record (a JSON file, ``docs/_build/verified-examples.json`` for
``nox -s docs``) holds the keys of the examples that passed, and nothing
else: an example whose key is in the record passed with exactly these
inputs, so it need not run again; a failing, skipped or never-run example is
never in it, so it always runs.  With ``CI`` or HANDBOOK_VERIFY_ALL set,
every example runs (and passes are still recorded).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from handbook.config import CI_VARIABLE, VERIFIED_RECORD_VARIABLE, VERIFY_ALL_VARIABLE
from handbook.markup import Example
from handbook.runner import default_timeout, runner
from handbook.services import available_services

__all__ = [
    "Record",
    "example_key",
    "record_path",
    "session_inputs",
    "verify_all",
]

#: Bumped when the key's recipe changes, so older records match nothing.
KEY_VERSION = "1"
_TOOLING = Path(__file__).resolve().parent


def record_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where passes are recorded (HANDBOOK_VERIFIED_RECORD), or None: no record."""
    path = environ.get(VERIFIED_RECORD_VARIABLE)
    return Path(path) if path else None


def verify_all(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether every example runs, whatever the record says (CI, or --force)."""
    names = (CI_VARIABLE, VERIFY_ALL_VARIABLE)
    return any(environ.get(name, "") not in ("", "0") for name in names)


def _hash_files(digest: hashlib._Hash, root: Path, files: Iterable[Path]) -> None:
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")


def _aiocleanup_sources() -> list[Path]:
    spec = importlib.util.find_spec("aiocleanup")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [
        path
        for location in spec.submodule_search_locations
        for path in Path(location).rglob("*.py")
    ]


def session_inputs() -> str:
    """A hash of everything outside the page that an example's result depends on."""
    digest = hashlib.sha256(f"handbook examples {KEY_VERSION}\0".encode())
    digest.update(f"{sys.executable}\0{sys.version}\0".encode())
    distributions = sorted(
        {
            f"{(dist.metadata['Name'] or '').lower()}=={dist.version}"
            for dist in importlib.metadata.distributions()
        }
    )
    digest.update("\n".join(distributions).encode() + b"\0")
    _hash_files(
        digest,
        _TOOLING,
        (path for path in _TOOLING.rglob("*.py") if "__pycache__" not in path.parts),
    )
    sources = _aiocleanup_sources()
    if sources:
        _hash_files(digest, sources[0].parents[1], sources)
    digest.update(f"services={','.join(sorted(available_services()))}\0".encode())
    digest.update(f"runner={runner()}\0timeout={default_timeout()!r}\0".encode())
    return digest.hexdigest()


def example_key(example: Example, page: str, session: str) -> str:
    """The key of ``example`` of ``page`` in a session whose inputs hash to ``session``."""
    digest = hashlib.sha256(f"{session}\0{page}\0".encode())
    for part in example.chain():
        markers = [(marker.name, marker.value) for marker in part.block.markers]
        digest.update(json.dumps([part.code, markers]).encode() + b"\0")
    expected = example.output.code if example.output is not None else None
    digest.update(json.dumps(expected).encode())
    return digest.hexdigest()


class Record:
    """The keys of the examples that passed, each with its page."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.passed: dict[str, str] = {}
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(document, dict) and document.get("version") == KEY_VERSION:
            passed = document.get("passed")
            if isinstance(passed, dict):
                self.passed = {str(key): str(page) for key, page in passed.items()}

    def __contains__(self, key: str) -> bool:
        return key in self.passed

    def update(
        self,
        passed: Mapping[str, str],
        unchanged: Mapping[str, str],
        not_passed: Iterable[str],
        base: Path,
    ) -> None:
        """Record a run's passes and write the file.

        ``unchanged`` are the examples the run did not need to run (already
        recorded), ``not_passed`` the keys of those that failed or were
        skipped.  For every page the run saw, only its current keys stay;
        the keys of pages it did not see stay while the page exists.
        """
        seen_pages = set(passed.values()) | set(unchanged.values())
        failing = set(not_passed)
        kept = {
            key: page
            for key, page in self.passed.items()
            if page not in seen_pages and key not in failing and (base / page).exists()
        }
        kept.update(unchanged)
        kept.update((key, page) for key, page in passed.items() if key not in failing)
        self.passed = dict(sorted(kept.items(), key=lambda item: (item[1], item[0])))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        document = {"version": KEY_VERSION, "passed": self.passed}
        temporary.write_text(json.dumps(document, indent=0) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
