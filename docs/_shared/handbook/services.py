"""External services for examples marked ``% service: NAME`` (DESIGN §7).

The registry is :data:`handbook.config.SERVICES`; this module makes its
entries run.  A test session (``nox -s tests``, ``nox -s docs``) calls
:func:`started_services` once: it starts every registered service that can
start here and returns the environment that tells the test processes about
them:

* ``HANDBOOK_SERVICES``: the names of the services that started;
* ``HANDBOOK_SERVICE_PROBLEMS``: for each one that could not, why (JSON);
* each started service's ``session_variable``, e.g. ``HANDBOOK_POSTGRES_DSN``.

A service that cannot start (not installed, ``runuser`` missing, ``initdb``
failing, ...) is one line in the session's log and never an error: its
examples are skipped with that line as the reason.  Each example that asks
for a started service gets an instance of its own (for PostgreSQL, an empty
database, created before the example and dropped after) in the service's
``example_variable``, e.g. ``DATABASE_URL``: the variable a reader sets to
point the same example at their own server.

PostgreSQL refuses to run as root; as root, the cluster runs as an
unprivileged system user (``postgres`` if it exists, else one created for the
purpose) through ``runuser``, with trust authentication on 127.0.0.1 only and
a socket directory of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from handbook.config import SERVICE_PROBLEMS_VARIABLE, SERVICES, SERVICES_VARIABLE, Service

__all__ = [
    "Postgres",
    "Provider",
    "ServiceUnavailable",
    "available_services",
    "find_programs",
    "postgres_cluster",
    "postgres_database",
    "provider_for",
    "service_problems",
    "started_services",
]

_SERVICE_USER = "handbook-pg"


class ServiceUnavailable(Exception):
    """A service cannot start here; the message is one line saying why."""


class Provider(Protocol):
    """How one registered service starts, and what each example gets."""

    def session(self) -> contextlib.AbstractContextManager[dict[str, str]]:
        """Start the service for a test session; the variables the test processes get.

        Raises :class:`ServiceUnavailable` when it cannot start here.
        """
        ...

    def example(
        self, session_environment: Mapping[str, str]
    ) -> contextlib.AbstractContextManager[dict[str, str]]:
        """An instance for one example; the variables the example gets."""
        ...


def provider_for(service: Service) -> Provider:
    """The implementation named by ``service.provider`` (``module:attribute``)."""
    module_name, _, attribute = service.provider.partition(":")
    factory: Callable[[Service], Provider] = getattr(
        importlib.import_module(module_name), attribute
    )
    return factory(service)


def available_services(environ: Mapping[str, str] = os.environ) -> set[str]:
    """The services this test session started (``HANDBOOK_SERVICES``)."""
    return {name.strip() for name in environ.get(SERVICES_VARIABLE, "").split(",") if name.strip()}


def service_problems(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Why each service that could not start did not (``HANDBOOK_SERVICE_PROBLEMS``)."""
    try:
        problems = json.loads(environ.get(SERVICE_PROBLEMS_VARIABLE) or "{}")
    except json.JSONDecodeError:
        return {}
    return {str(name): str(reason) for name, reason in dict(problems).items()}


@contextlib.contextmanager
def started_services(
    log: Callable[[str], None] = print,
    registry: Mapping[str, Service] = SERVICES,
    *,
    warn: Callable[[str], None] | None = None,
) -> Iterator[dict[str, str]]:
    """Start every service of ``registry`` that can start; yield the session's variables.

    One line per service: ``log`` hears of each that started, ``warn``
    (default: ``log``) of each that could not, why, and that its examples
    are skipped.  Never raises for a service that cannot start.
    """
    environment: dict[str, str] = {}
    started: list[str] = []
    problems: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for name, service in registry.items():
            try:
                variables = stack.enter_context(provider_for(service).session())
            except ServiceUnavailable as error:
                problems[name] = str(error)
            except Exception as error:  # a bug in a provider must not end the session either
                problems[name] = f"{type(error).__name__}: {error}"
            else:
                environment.update(variables)
                started.append(name)
                log(f"{service.title} for the examples marked '% service: {name}': running")
                continue
            (warn or log)(
                f"{service.title} cannot start: {problems[name]}; "
                f"the examples marked '% service: {name}' are skipped"
            )
        environment[SERVICES_VARIABLE] = ",".join(started)
        environment[SERVICE_PROBLEMS_VARIABLE] = json.dumps(problems, ensure_ascii=False)
        yield environment


def find_programs(service: Service) -> Path:
    """The directory holding all of ``service.programs``; raises ServiceUnavailable."""
    first = shutil.which(service.programs[0])
    if first is not None:
        directory = Path(first).resolve().parent
        if all((directory / program).exists() for program in service.programs):
            return directory
    candidates: list[Path] = []
    for pattern in service.search_paths:
        root = Path(pattern).anchor or "."
        candidates += Path(root).glob(str(Path(pattern).relative_to(root)))
    # The newest version first: /usr/lib/postgresql/16/bin before 15/bin.
    candidates.sort(key=lambda path: [int(p) if p.isdigit() else 0 for p in path.parts])
    for directory in reversed(candidates):
        if all((directory / program).exists() for program in service.programs):
            return directory
    where = " or ".join(["PATH", *service.search_paths])
    raise ServiceUnavailable(
        f"not installed ({', '.join(service.programs)} not found on {where}; "
        f"{service.install_hint})"
    )


class Postgres:
    """A throwaway PostgreSQL cluster per test session, a database per example."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @contextlib.contextmanager
    def session(self) -> Iterator[dict[str, str]]:
        with postgres_cluster(find_programs(self.service)) as dsn:
            yield {self.service.session_variable: dsn}

    @contextlib.contextmanager
    def example(self, session_environment: Mapping[str, str]) -> Iterator[dict[str, str]]:
        with postgres_database(session_environment[self.service.session_variable]) as dsn:
            yield {self.service.example_variable: dsn}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unprivileged_user() -> str | None:
    """The user to run the server as when we are root; None when we are not."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _SERVICE_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    _step(
        f"creating the user {_SERVICE_USER} to run it as (as root, PostgreSQL must run "
        "as an unprivileged user)",
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SERVICE_USER],
        timeout=60,
    )
    return _SERVICE_USER


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _step(what: str, command: list[str], timeout: float, log: Path | None = None) -> None:
    """Run one step of starting a service; a failure becomes a one-line ServiceUnavailable."""
    try:
        subprocess.run(
            command,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except FileNotFoundError as error:
        raise ServiceUnavailable(f"{what}: {error.filename or command[0]} not found") from None
    except PermissionError as error:
        raise ServiceUnavailable(f"{what}: {error}") from None
    except subprocess.TimeoutExpired:
        raise ServiceUnavailable(f"{what} did not finish within {timeout:.0f} s") from None
    except subprocess.CalledProcessError as error:
        detail = _last_line(error.stderr or "")
        if log is not None and log.exists():
            detail = _last_line(log.read_text(encoding="utf-8", errors="replace")) or detail
        raise ServiceUnavailable(
            f"{what} failed (exit status {error.returncode})" + (f": {detail}" if detail else "")
        ) from None


@contextlib.contextmanager
def postgres_cluster(bin_dir: Path) -> Iterator[str]:
    """Start a cluster on 127.0.0.1 and a free port; yield its admin DSN.

    Raises :class:`ServiceUnavailable` with one line when it cannot start.
    """
    runuser = shutil.which("runuser")
    if os.geteuid() == 0 and runuser is None:
        raise ServiceUnavailable(
            "runuser is not installed (as root, PostgreSQL must run as an unprivileged "
            "user; util-linux provides runuser)"
        )
    user = _unprivileged_user()
    as_user = [str(runuser), "-u", user, "--"] if user else []
    root = Path(tempfile.mkdtemp(prefix="handbook-pg-"))
    data, log = root / "data", root / "server.log"
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        _step(
            "initdb",
            [
                *as_user,
                str(bin_dir / "initdb"),
                *("-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"),
            ],
            timeout=120,
        )
        _step(
            "pg_ctl start",
            [*pg_ctl, "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
            timeout=90,
            log=log,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [*pg_ctl, "-m", "immediate", "-w", "stop"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=60,
                    check=False,
                )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(admin_dsn: str) -> Iterator[str]:
    """Create an empty database for one example; yield its DSN; drop it after."""
    import asyncpg  # only the test processes need it

    name = f"example_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        # FORCE ends sessions an example left behind (PostgreSQL 13+).
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
