"""A service that cannot start is one clear line, never a crash (DESIGN §7).

Each test gives started_services() a registry whose PostgreSQL entry points
at programs that are missing or fail, as on a machine without the server,
without ``runuser``, or where ``initdb`` fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from handbook.config import SERVICE_PROBLEMS_VARIABLE, SERVICES, SERVICES_VARIABLE, Service
from handbook.services import available_services, service_problems, started_services

POSTGRES = SERVICES["postgres"]


def start(registry: dict[str, Service]) -> tuple[dict[str, str], list[str]]:
    lines: list[str] = []
    with started_services(log=lines.append, registry=registry) as environment:
        return dict(environment), lines


@pytest.fixture
def programs() -> Iterator[Path]:
    """A directory other users can read (the server runs as one when we are root)."""
    directory = Path(tempfile.mkdtemp(prefix="handbook-fake-pg-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def fake_program(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IROTH)


def test_a_service_that_is_not_installed_is_one_line_and_its_examples_skip() -> None:
    missing = dataclasses.replace(
        POSTGRES, programs=("handbook-no-such-initdb", "handbook-no-such-pg_ctl"), search_paths=()
    )
    environment, lines = start({"postgres": missing})
    assert lines == [
        "PostgreSQL cannot start: not installed (handbook-no-such-initdb, "
        "handbook-no-such-pg_ctl not found on PATH; apt-get install postgresql); "
        "the examples marked '% service: postgres' are skipped"
    ]
    assert available_services(environment) == set()
    assert service_problems(environment) == {
        "postgres": "not installed (handbook-no-such-initdb, handbook-no-such-pg_ctl not found "
        "on PATH; apt-get install postgresql)"
    }
    assert environment[SERVICES_VARIABLE] == ""
    assert json.loads(environment[SERVICE_PROBLEMS_VARIABLE])


def test_a_failing_initdb_is_one_line_naming_its_error(
    programs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_program(programs, "initdb", 'echo "initdb: error: the disk is full" >&2\nexit 1')
    fake_program(programs, "pg_ctl", "exit 0")
    monkeypatch.setenv("PATH", os.pathsep.join([str(programs), "/usr/sbin", "/usr/bin", "/bin"]))
    environment, lines = start({"postgres": POSTGRES})
    [line] = lines
    assert line == (
        "PostgreSQL cannot start: initdb failed (exit status 1): initdb: error: the disk is "
        "full; the examples marked '% service: postgres' are skipped"
    )
    assert available_services(environment) == set()


def test_a_server_that_does_not_start_is_one_line(
    programs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_program(programs, "initdb", "exit 0")
    fake_program(programs, "pg_ctl", 'echo "pg_ctl: could not start server" >&2\nexit 1')
    monkeypatch.setenv("PATH", os.pathsep.join([str(programs), "/usr/sbin", "/usr/bin", "/bin"]))
    _, [line] = start({"postgres": POSTGRES})
    assert line.startswith("PostgreSQL cannot start: pg_ctl start failed (exit status 1)")


@pytest.mark.skipif(os.geteuid() != 0, reason="runuser is only needed as root")
def test_missing_runuser_is_one_line(programs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_program(programs, "initdb", "exit 0")
    fake_program(programs, "pg_ctl", "exit 0")
    # The fake programs, and the commands they need, but no sbin: no runuser.
    bin_only = programs / "bin"
    bin_only.mkdir()
    (bin_only / "sh").symlink_to("/bin/sh")
    monkeypatch.setenv("PATH", os.pathsep.join([str(programs), str(bin_only)]))
    _, [line] = start({"postgres": POSTGRES})
    assert line.startswith("PostgreSQL cannot start: runuser is not installed")


def test_a_provider_that_raises_anything_else_does_not_end_the_session() -> None:
    broken = dataclasses.replace(POSTGRES, provider="handbook.services:ServiceUnavailable")
    environment, [line] = start({"postgres": broken})
    assert line.startswith("PostgreSQL cannot start: ")
    assert line.endswith("the examples marked '% service: postgres' are skipped")
    assert available_services(environment) == set()
