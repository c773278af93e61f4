"""External services for examples marked ``% service: NAME``.

The test sessions start a throwaway PostgreSQL cluster when the server's
binaries are installed (``initdb``/``pg_ctl`` on PATH or under
/usr/lib/postgresql/*/bin), and tell the examples about it through the
environment:

* ``HANDBOOK_SERVICES=postgres`` - which services this session started;
* ``HANDBOOK_POSTGRES_DSN`` - the cluster's admin connection string.

Each postgres example then gets a database of its own, created empty before
it runs and dropped after, and finds it in ``DATABASE_URL``: the variable a
reader sets to point the same example at their own server.

PostgreSQL refuses to run as root; as root, the cluster runs as an
unprivileged system user (``postgres`` if it exists, else one created for the
purpose), with trust authentication on 127.0.0.1 only and a socket directory
of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from handbook.config import SERVICES

__all__ = ["find_postgres", "postgres_cluster", "postgres_database"]

ADMIN_DSN_VARIABLE = SERVICES["postgres"].session_variable
_SERVICE_USER = "handbook-pg"


def find_postgres() -> Path | None:
    """The directory holding initdb and pg_ctl, or None if not installed."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for directory in reversed(candidates):
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


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
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SERVICE_USER],
        check=True,
    )
    return _SERVICE_USER


@contextlib.contextmanager
def postgres_cluster(bin_dir: Path) -> Iterator[str]:
    """Start a cluster on 127.0.0.1 and a free port; yield its admin DSN."""
    user = _unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="handbook-pg-"))
    data, log = root / "data", root / "server.log"
    as_user = ["runuser", "-u", user, "--"] if user else []
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        subprocess.run(
            [
                *as_user,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
        subprocess.run(
            [
                *as_user,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=90,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [
                    *as_user,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                stdout=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(admin_dsn: str) -> Iterator[str]:
    """Create an empty database for one example; yield its DSN; drop it after."""
    import asyncpg  # only sessions that started PostgreSQL need it

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
