"""Running one example the way a reader would: ``python example.py`` (DESIGN §6).

Each example (and, for ``% continued``, the examples it continues) is written
to ``example.py`` in a new temporary directory and run by the interpreter of
the test session, with stdout and stderr merged in one unbuffered pipe so the
text interleaves as in a terminal.  Interpreter-exit messages are part of the
output, as they are for a reader.  The process gets a wall-clock bound; on
expiry its whole process group is killed.

Two ways to start that process, chosen by HANDBOOK_EXAMPLE_RUNNER:

``fork`` (the default where ``os.fork`` exists)
    A fork server (``_forkserver/forkserver.py``) starts once per test process
    (and set of libraries, see :data:`PRELOADABLE`), imports :data:`PRELOAD`
    and those libraries, and forks for each example; the child becomes
    ``python example.py`` in the example's directory, with its environment,
    arguments, ``sys.path``, a fresh ``__main__`` and the usual interpreter
    exit.  Starting an interpreter and importing asyncio is most of what a
    small example costs, and a fork skips both.
``spawn``
    A new interpreter per example, literally ``python example.py``.  CI runs
    every example this way too, so nothing passes only because of the fork.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from handbook.config import (
    LEAK_REPORT_VARIABLE,
    ORIGINAL_PYTHONPATH_VARIABLE,
    RUNNER_VARIABLE,
    TIMEOUT_VARIABLE,
)

__all__ = [
    "CONTINUE_SENTINEL",
    "PRELOAD",
    "PRELOADABLE",
    "ForkServerError",
    "RunResult",
    "default_timeout",
    "fork_server_group",
    "preload",
    "run_code",
    "runner",
]

_SITE_DIR = Path(__file__).with_name("_site")
_FORK_SERVER = Path(__file__).with_name("_forkserver") / "forkserver.py"
_EXIT_REPORT = _SITE_DIR / "handbook_exit_report.py"
#: Imported by every fork server before its first fork: standard-library
#: modules the examples use (asyncio imports most of the rest).
PRELOAD = ("asyncio", "tempfile", "pathlib")
#: Libraries the pages use whose import prints nothing and changes nothing
#: an example could see.  An example that imports some of them runs in a fork
#: server that has imported those too (one server per combination): importing
#: aiohttp costs more than the example, but everything else would pay for
#: tearing it down at exit.
PRELOADABLE = frozenset(
    {"aiocleanup", "aiofiles", "aiohttp", "aiosqlite", "anyio", "asyncpg", "starlette", "uvicorn"}
)
#: Seconds a fork server may take to start (import asyncio and the preloads).
STARTUP_TIMEOUT = 60.0
#: Seconds a fork server may take to answer a request, beyond the example's
#: own run time.  On expiry (or any other protocol error) it is discarded.
PROTOCOL_TIMEOUT = 30.0
CONTINUE_SENTINEL = "\x00handbook: continued example starts here\x00"
_SENTINEL_LINE = f"__import__('sys').stdout.write({CONTINUE_SENTINEL + chr(10)!r})\n"
# Settings a developer may have that would change what an example prints.
_SCRUBBED_ENVIRONMENT = (
    "PYTHONDEVMODE",
    "PYTHONASYNCIODEBUG",
    "PYTHONWARNINGS",
    "PYTHONTRACEMALLOC",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PYTHONMALLOC",
    "PYTHONFAULTHANDLER",
    "PYTHONSAFEPATH",
    "FORCE_COLOR",
    "PY_COLORS",
)


def runner() -> str:
    """``fork`` or ``spawn`` (HANDBOOK_EXAMPLE_RUNNER; fork where os.fork exists)."""
    chosen = os.environ.get(RUNNER_VARIABLE) or ("fork" if hasattr(os, "fork") else "spawn")
    if chosen not in ("fork", "spawn"):
        raise ValueError(f"{RUNNER_VARIABLE} must be fork or spawn, not {chosen!r}")
    return chosen


def default_timeout() -> float:
    """Seconds an example may run before it is killed (HANDBOOK_EXAMPLE_TIMEOUT)."""
    return float(os.environ.get(TIMEOUT_VARIABLE, "10"))


@dataclass
class RunResult:
    output: str
    returncode: int | None
    duration: float
    timed_out: bool = False
    leaks: list[str] = field(default_factory=list)


def run_code(
    code: str,
    *,
    prelude: list[str] | None = None,
    timeout: float | None = None,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> RunResult:
    """Run ``code`` as ``example.py``; ``prelude`` are blocks it continues.

    ``env`` adds variables to the example's environment (a service's address).
    """
    timeout = default_timeout() if timeout is None else timeout
    workdir = Path(tempfile.mkdtemp(prefix="handbook-example-"))
    try:
        source = "".join(_with_newline(part) + _SENTINEL_LINE for part in prelude or [])
        (workdir / "example.py").write_text(source + code, encoding="utf-8")
        report = workdir.parent / (workdir.name + ".leaks")
        extra = env or {}
        # A variable the interpreter reads as it starts needs a new interpreter.
        if runner() == "fork" and not _startup_settings(extra):
            server = _fork_servers.get(python, _example_preload(code, prelude))
            started = time.perf_counter()
            returncode, raw, timed_out = server.run(workdir, report, extra, timeout)
        else:
            environment = _environment(report)
            environment.update(extra)
            started = time.perf_counter()
            returncode, raw, timed_out = _spawn(python, workdir, environment, timeout)
        duration = time.perf_counter() - started
        output = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
        if prelude:
            output = output.rpartition(CONTINUE_SENTINEL + "\n")[2]
        leaks: list[str] = []
        if report.exists():
            leaks = [line for line in report.read_text(encoding="utf-8").splitlines() if line]
            report.unlink()
        return RunResult(output, returncode, duration, timed_out, leaks)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def fork_server_group(code: str, prelude: list[str] | None = None) -> str | None:
    """Which fork server runs this example, for examples to be grouped by; None for the common one.

    A fork server starts for each test process and set of preloaded libraries
    it meets (a new interpreter importing them: a tenth of a second for
    anyio, a quarter for aiohttp).  The pytest plugin sends the examples
    that share a set of libraries to the same test process, so each set's
    server starts once rather than in every process.
    """
    if runner() != "fork":
        return None
    extra = _example_preload(code, prelude)[len(PRELOAD) :]
    return "fork-server-" + "+".join(extra) if extra else None


def _example_preload(code: str, prelude: list[str] | None) -> tuple[str, ...]:
    """What the fork server for an example (and the blocks it continues) imports."""
    return preload("".join(_with_newline(part) for part in [*(prelude or []), code]))


def preload(source: str) -> tuple[str, ...]:
    """What the fork server for ``source`` imports: :data:`PRELOAD` and its libraries."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return PRELOAD
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module)
    return PRELOAD + tuple(
        sorted(name for name in imported if name.partition(".")[0] in PRELOADABLE)
    )


def _spawn(
    python: str, workdir: Path, environment: dict[str, str], timeout: float
) -> tuple[int | None, bytes, bool]:
    process = subprocess.Popen(
        [python, "example.py"],
        cwd=workdir,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    reader = _Reader(process.stdout)
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(process.pid)
        process.wait()
    # Whatever the example left in its process group goes too.
    _kill_group(process.pid)
    return process.returncode, reader.result(), timed_out


class _Reader:
    """Read a pipe to its end in a thread, taking ownership of the descriptor.

    The caller waits for the process, not for end-of-file: a child process
    the example leaked may hold the pipe open.
    """

    def __init__(self, pipe: IO[bytes]) -> None:
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[bytes]) -> None:
        with pipe:
            self._chunks.append(pipe.read())

    def result(self) -> bytes:
        self._thread.join(timeout=5)
        return b"".join(self._chunks)


class ForkServerError(RuntimeError):
    """A fork server stopped, or stopped answering as the protocol says.

    The server is discarded at once; the next example starts a new one.
    """


class _ForkServer:
    """One fork server process (see the module docstring) and its socket.

    Requests and answers alternate on the socket; each answer carries its
    request's id.  Anything else (no answer within :data:`PROTOCOL_TIMEOUT`,
    an answer to another request, the server gone) leaves the two sides out
    of step, so the server is then discarded, never reused.
    """

    def __init__(
        self, python: str, modules: tuple[str, ...], base_environment: dict[str, str]
    ) -> None:
        self.python = python
        self.base_environment = base_environment
        self.broken = False
        self._requests = 0
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        with theirs:
            self._process = subprocess.Popen(
                [
                    python,
                    str(_FORK_SERVER),
                    str(theirs.fileno()),
                    str(_EXIT_REPORT),
                    *modules,
                ],
                env=base_environment,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=[theirs.fileno()],
                start_new_session=True,
            )
        self._channel = ours
        try:
            self._receive(timeout=STARTUP_TIMEOUT)  # {"ready": true}
        except BaseException:
            self.discard()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def usable(self) -> bool:
        return not self.broken and self._process.poll() is None

    def close(self) -> None:
        """Let the server finish (it exits when the socket closes)."""
        self._channel.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.discard()
        self._log.close()

    def discard(self) -> None:
        """Kill the server at once; it is never used again."""
        self.broken = True
        self._channel.close()
        _kill_group(self._process.pid)
        self._process.wait()
        self._log.close()

    def _stopped(self, what: str) -> ForkServerError:
        log = ""
        with contextlib.suppress(OSError, ValueError):
            self._log.seek(0)
            log = self._log.read().decode(errors="replace")
        return ForkServerError(
            f"the example fork server ({self.python}, pid {self.pid}) {what}; it is discarded "
            "and the next example starts a new one" + (f". Its log:\n{log}" if log else "")
        )

    def _receive(self, timeout: float | None) -> dict[str, object]:
        self._channel.settimeout(timeout)
        try:
            data = self._channel.recv(65536)
        except TimeoutError:
            raise
        except OSError as error:
            raise self._stopped(f"could not be read ({error})") from None
        if not data:
            raise self._stopped("stopped")
        message = json.loads(data)
        if not isinstance(message, dict):
            raise self._stopped(f"answered {data!r}")
        return message

    def _answer(self, request: int, key: str, timeout: float | None) -> int:
        """The answer ``key`` to request ``request``: an integer."""
        message = self._receive(timeout)
        value = message.get(key)
        if message.get("id") != request or not isinstance(value, int):
            raise self._stopped(f"answered {message!r} when request {request} waited for {key}")
        return value

    def run(
        self, workdir: Path, report: Path, extra: dict[str, str], timeout: float
    ) -> tuple[int | None, bytes, bool]:
        """Run ``workdir/example.py``; its exit status, its output, whether it timed out."""
        environment = _environment(None)
        environment.update(extra)
        self._requests += 1
        request = {
            "id": self._requests,
            "workdir": str(workdir),
            "script": "example.py",
            "python": self.python,
            "env": environment,
            "report": str(report),
        }
        read_end, write_end = os.pipe()
        reader = _Reader(open(read_end, "rb"))  # noqa: SIM115 (the reader closes it)
        pid: int | None = None
        timed_out = False
        try:
            try:
                socket.send_fds(self._channel, [json.dumps(request).encode()], [write_end])
            finally:
                os.close(write_end)
            pid = self._answer(self._requests, "pid", PROTOCOL_TIMEOUT)
            try:
                returncode = self._answer(self._requests, "returncode", timeout)
            except TimeoutError:
                timed_out = True
                _kill_group(pid)
                returncode = self._answer(self._requests, "returncode", PROTOCOL_TIMEOUT)
        except BaseException as error:
            self.discard()
            if pid is not None:
                _kill_group(pid)
            if isinstance(error, TimeoutError):
                raise self._stopped(f"did not answer within {PROTOCOL_TIMEOUT:g} s") from None
            raise
        _kill_group(pid)
        return returncode, reader.result(), timed_out


class _ForkServers:
    """A fork server per interpreter and preload, restarted when the environment changes."""

    def __init__(self) -> None:
        self._servers: dict[tuple[str, tuple[str, ...]], _ForkServer] = {}

    def get(self, python: str, modules: tuple[str, ...]) -> _ForkServer:
        environment = _environment(None)
        server = self._servers.get((python, modules))
        if server is not None and not server.usable():
            server = None
        elif server is not None and _startup_settings(server.base_environment) != (
            _startup_settings(environment)
        ):
            server.close()
            server = None
        if server is None:
            server = self._servers[python, modules] = _ForkServer(python, modules, environment)
        return server


def _startup_settings(environment: dict[str, str]) -> dict[str, str]:
    """The variables an interpreter reads as it starts (the rest are read later)."""
    return {
        name: value
        for name, value in environment.items()
        if name.startswith(("PYTHON", "LC_")) or name in ("LANG", "LANGUAGE")
    }


_fork_servers = _ForkServers()


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _environment(report: Path | None) -> dict[str, str]:
    """The example's environment; with a report, the spawn runner's additions too."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED_ENVIRONMENT and not k.startswith("PYTEST_")
    }
    if report is not None:
        original = env.get("PYTHONPATH", "")
        env[ORIGINAL_PYTHONPATH_VARIABLE] = original
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SITE_DIR), original) if p)
        env[LEAK_REPORT_VARIABLE] = str(report)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHON_COLORS"] = "0"
    env["NO_COLOR"] = "1"
    return env


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
