"""Load and fault tests of the services built on the draining pages.

The service under test is not copied here: each test takes the ``SERVICE``
program from the page's production example (read with the project's markup
module), writes it to a temporary file and runs it in a child process. A
change to the page is therefore a change to what these tests exercise.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from handbook.markup import parse_file

DOCS = Path(__file__).resolve().parents[2] / "docs"

#: Concurrent slow requests per test, and how long each one takes.
REQUESTS = 200
REQUEST_SECONDS = 0.5
#: Upper bound for any single wait in a test; the whole test stays under 20 s.
STEP_TIMEOUT = 8.0


def service_source(page: str, marker: str) -> str:
    """The ``SERVICE`` string of the python block on ``page`` containing ``marker``."""
    blocks = [b for b in parse_file(DOCS / page).python_blocks if marker in b.code]
    assert len(blocks) == 1, f"{page}: expected one python block containing {marker!r}"
    for node in ast.walk(ast.parse(blocks[0].code)):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "SERVICE" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise AssertionError(f"{page}: the block containing {marker!r} has no SERVICE string")


@dataclass
class Service:
    """A service running in a child process, its output collected line by line."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    async def wait_for_line(self, pattern: str) -> re.Match[str]:
        """The first output line matching ``pattern`` (waits for it, bounded)."""
        regex = re.compile(pattern)

        async def search() -> re.Match[str]:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                if self._reader is not None and self._reader.done():
                    raise AssertionError(
                        f"the service exited before printing {pattern!r}:\n" + self.output
                    )
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(search(), timeout=STEP_TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError(f"no line matching {pattern!r}:\n{self.output}") from None

    async def wait_exit(self, timeout: float) -> int:
        returncode = await asyncio.wait_for(self.process.wait(), timeout=timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout=STEP_TIMEOUT)
        return returncode

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


async def refused(port: int) -> bool:
    """True when a new TCP connection to 127.0.0.1:port is refused."""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout=STEP_TIMEOUT
        )
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def post_job(session: Any, url: str) -> str:
    """POST one slow job; its status and body, or the client error."""
    import aiohttp

    try:
        async with session.post(url) as response:
            return f"{response.status} {await response.text()}"
    except aiohttp.ClientError as error:
        return repr(error)


async def jobs_in_flight_then_sigterm(
    session: Any, service: Service, base: str, status_path: str, expected: str
) -> tuple[list[asyncio.Task[str]], float]:
    """Start REQUESTS slow jobs, wait until the service reports ``expected``
    at ``status_path``, then send SIGTERM; the jobs and when it was sent."""
    url = f"{base}/jobs?seconds={REQUEST_SECONDS}"
    jobs = [asyncio.create_task(post_job(session, url)) for _ in range(REQUESTS)]
    # SIGTERM only once the service is working on every one of them.
    deadline = time.monotonic() + STEP_TIMEOUT
    status = ""
    while status != expected:
        assert time.monotonic() < deadline, f"never saw {expected!r}, last {status!r}"
        async with session.get(f"{base}{status_path}") as response:
            status = await response.text()
        await asyncio.sleep(0.01)
    assert not any(job.done() for job in jobs), "jobs finished before SIGTERM"
    signalled = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    return jobs, signalled


class Kit:
    """What a load test needs, handed over as the ``kit`` fixture."""

    REQUESTS = REQUESTS
    REQUEST_SECONDS = REQUEST_SECONDS
    STEP_TIMEOUT = STEP_TIMEOUT
    service_source = staticmethod(service_source)
    refused = staticmethod(refused)
    jobs_in_flight_then_sigterm = staticmethod(jobs_in_flight_then_sigterm)

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @contextlib.asynccontextmanager
    async def start(self, source: str, env: dict[str, str]) -> AsyncIterator[Service]:
        """Run ``source`` in a child process; it is killed if still alive on exit."""
        script = self._directory / "service.py"
        script.write_text(source, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-u",
            str(script),
            env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        service = Service(process)
        service._reader = asyncio.create_task(service._read())
        try:
            yield service
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            service._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await service._reader


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)
