"""aiocleanup.run() in real processes: signals, drain, steps and exit status."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals are sent to the service"
)

SERVICE = textwrap.dedent(
    """
    import asyncio
    import sys

    import aiocleanup

    work_seconds = float(sys.argv[1])
    grace = float(sys.argv[2])
    failing_step = "failing-step" in sys.argv


    def say(line):
        print(line, flush=True)


    async def main(shutdown):
        for number in (1, 2, 3):
            shutdown.push(lambda number=number: say(f"step {number}"))

        async def close_async():
            await asyncio.sleep(0.01)
            say("step async")

        shutdown.push(close_async)
        if failing_step:
            shutdown.push(lambda: 1 / 0, name="failing")

        async def work(number):
            async with shutdown.inflight():
                await asyncio.sleep(work_seconds)
                say(f"work {number} done")

        async def announce():
            say(f"requested: {await shutdown.wait()}")

        for number in range(2):
            shutdown.spawn(work(number))
        shutdown.spawn(announce())
        await asyncio.sleep(0)
        say("ready")
        await asyncio.Event().wait()  # the acceptor; cancelled on request


    raise SystemExit(aiocleanup.run(main, grace=grace, cancel_timeout=1))
    """
)


class Service:
    """A service process whose stdout lines can be awaited with a timeout."""

    def __init__(self, script: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._stdout: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._stdout.put(line.rstrip("\n"))
        self._stdout.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self._stderr.append(self.process.stderr.read())

    def wait_for_line(self, prefix: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line starting with {prefix!r}: {self.lines}"
            line = self._stdout.get(timeout=remaining)
            assert line is not None, f"exited before {prefix!r}: {self.lines}"
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def send(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def finish(self, timeout: float = 10.0) -> tuple[int, list[str], str]:
        """Wait for the exit; return the status, all stdout lines and stderr."""
        status = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        while (line := self._stdout.get_nowait()) is not None:
            self.lines.append(line)
        return status, self.lines, "".join(self._stderr)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[type[Service]]:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    started: list[Service] = []

    class StartedService(Service):
        def __init__(self, *args: str) -> None:
            super().__init__(script, *args)
            started.append(self)

    yield StartedService  # type: ignore[misc]
    for service in started:
        service.kill()


LIFO_STEPS = ["step async", "step 3", "step 2", "step 1"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_work_then_runs_steps_in_lifo_order(
    start: type[Service], sig: signal.Signals
) -> None:
    service = start("0.3", "10")
    service.wait_for_line("ready")
    service.send(sig)
    status, lines, stderr = service.finish()
    assert status == 0, stderr
    assert lines[1] == f"requested: received {sig.name}"
    assert sorted(lines[2:4]) == ["work 0 done", "work 1 done"]
    assert lines[4:] == LIFO_STEPS


def test_a_second_sigterm_takes_the_forced_path(start: type[Service]) -> None:
    service = start("60", "60")
    service.wait_for_line("ready")
    started = time.monotonic()
    service.send(signal.SIGTERM)
    service.wait_for_line("requested:")
    service.send(signal.SIGTERM)
    status, lines, stderr = service.finish()
    assert time.monotonic() - started < 5
    assert status == 3, stderr
    assert not any(line.startswith("work") for line in lines)
    assert lines[-4:] == LIFO_STEPS
    assert "skipping the drain" in stderr
    assert "CUT_OFF" in stderr


def test_a_failing_step_sets_the_exit_status(start: type[Service]) -> None:
    service = start("0", "10", "failing-step")
    service.wait_for_line("ready")
    service.send(signal.SIGTERM)
    status, lines, stderr = service.finish()
    assert status == 1, stderr
    assert lines[-4:] == LIFO_STEPS
    assert "cleanup step 'failing' failed" in stderr
    assert "ZeroDivisionError" in stderr
