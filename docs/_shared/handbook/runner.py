"""Running one example the way a reader would: ``python example.py``.

Each example (and, for ``% continued``, the examples it continues) is written
to ``example.py`` in a new temporary directory and run by the interpreter of
the test session, with stdout and stderr merged in one unbuffered pipe so the
text interleaves as in a terminal.  Interpreter-exit messages are part of the
output, as they are for a reader.  The process gets a wall-clock bound; on
expiry its whole process group is killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CONTINUE_SENTINEL", "RunResult", "default_timeout", "run_code"]

_SITE_DIR = Path(__file__).with_name("_site")
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


def default_timeout() -> float:
    """Seconds an example may run before it is killed (HANDBOOK_EXAMPLE_TIMEOUT)."""
    return float(os.environ.get("HANDBOOK_EXAMPLE_TIMEOUT", "10"))


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
        environment = _environment(report)
        environment.update(env or {})
        started = time.perf_counter()
        process = subprocess.Popen(
            [python, "example.py"],
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # Read in a thread and wait for the process, not for end-of-file: a
        # child process the example leaked may hold the pipe open.
        chunks: list[bytes] = []
        reader = threading.Thread(target=lambda: chunks.append(_read_all(process)), daemon=True)
        reader.start()
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process.pid)
            process.wait()
        duration = time.perf_counter() - started
        # Whatever the example left in its process group goes too.
        _kill_group(process.pid)
        reader.join(timeout=5)
        raw = b"".join(chunks)
        output = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
        if prelude:
            output = output.rpartition(CONTINUE_SENTINEL + "\n")[2]
        leaks: list[str] = []
        if report.exists():
            leaks = [line for line in report.read_text(encoding="utf-8").splitlines() if line]
            report.unlink()
        return RunResult(output, process.returncode, duration, timed_out, leaks)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _read_all(process: subprocess.Popen[bytes]) -> bytes:
    assert process.stdout is not None
    with process.stdout:
        return process.stdout.read()


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _environment(report: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENVIRONMENT}
    original = env.get("PYTHONPATH", "")
    env["HANDBOOK_ORIGINAL_PYTHONPATH"] = original
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SITE_DIR), original) if p)
    env["HANDBOOK_LEAK_REPORT"] = str(report)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHON_COLORS"] = "0"
    env["NO_COLOR"] = "1"
    return env


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
