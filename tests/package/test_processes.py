"""aiocleanup.run() in real processes: signals, drain, steps and exit status."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
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
        await asyncio.Event().wait()  # the acceptor; stopped on request


    raise SystemExit(aiocleanup.run(main, grace=grace, cancel_timeout=1, body="stop"))
    """
)

# A uvicorn server run by the body, as its documentation shows: serve()
# installs its own signal handlers, drains its connections, runs the lifespan
# shutdown and then raises the signal again for whoever handled it before.
UVICORN_SERVICE = textwrap.dedent(
    """
    import asyncio
    import contextlib
    import logging

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    import aiocleanup

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


    def say(line):
        print(line, flush=True)


    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        say("lifespan shutdown")


    async def slow(request):
        say("handler started")
        await asyncio.sleep(0.3)
        return PlainTextResponse("done")


    app = Starlette(routes=[Route("/slow", slow)], lifespan=lifespan)


    async def main(shutdown):
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        server = uvicorn.Server(config)

        async def announce():
            while not server.started:
                await asyncio.sleep(0.01)
            say(f"port {server.servers[0].sockets[0].getsockname()[1]}")

        announcer = asyncio.ensure_future(announce())
        await server.serve()
        await announcer
        say("serve() returned")


    raise SystemExit(aiocleanup.run(main, grace=5, cancel_timeout=1))
    """
)

# A job in a thread that outlives every bound: run() must not join it, and
# the process must not wait for it beyond the deadline.
THREAD_JOB_SERVICE = textwrap.dedent(
    """
    import asyncio
    import time

    import aiocleanup


    async def main(shutdown):
        async def job():
            async with shutdown.inflight(name="report"):
                await asyncio.to_thread(time.sleep, 30)

        shutdown.spawn(job(), name="report")
        await asyncio.sleep(0)
        print("ready", flush=True)
        await shutdown.wait()


    result = aiocleanup.run(main, grace=0.2, cancel_timeout=0.2)
    print(f"run() returned {int(result)}", flush=True)
    raise SystemExit(result)
    """
)

# A cleanup step that blocks the event loop far longer than its timeout.
# It logs to stdout, so that the test can wait for a log line.
BLOCKING_STEP_SERVICE = textwrap.dedent(
    """
    import logging
    import sys
    import time

    import aiocleanup

    logging.basicConfig(stream=sys.stdout, format="log: %(message)s")
    deadline = float(sys.argv[1]) if len(sys.argv) > 1 else None


    def flush_metrics():
        print("step started", flush=True)
        # Blocks the event loop for 30 s. Short sleeps, not one long one: a
        # signal that arrives between the print and a 30 s sleep would only
        # be handled after it, so the test could not rely on it.
        for _ in range(3000):
            time.sleep(0.01)


    async def main(shutdown):
        shutdown.push(flush_metrics, name="metrics", timeout=0.2)
        print("ready", flush=True)
        await shutdown.wait()


    raise SystemExit(aiocleanup.run(main, grace=0.2, cancel_timeout=0.2, deadline=deadline))
    """
)

# A job that ignores cancellation: the loop stays responsive, the shutdown
# would wait for its whole cancel_timeout. Logs to stdout, for the test.
STUBBORN_JOB_SERVICE = textwrap.dedent(
    """
    import asyncio
    import logging
    import sys

    import aiocleanup

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="log: %(message)s")


    async def main(shutdown):
        async def stubborn():
            while True:
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    print("job: ignoring the cancellation", flush=True)

        shutdown.spawn(stubborn(), name="stubborn")
        print("ready", flush=True)
        await shutdown.wait()


    raise SystemExit(aiocleanup.run(main, grace=60, cancel_timeout=60))
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
def start(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start_service(*args: str, source: str = SERVICE) -> Service:
        script = tmp_path / f"service{len(started)}.py"
        script.write_text(source)
        service = Service(script, *args)
        started.append(service)
        return service

    yield start_service
    for service in started:
        service.kill()


LIFO_STEPS = ["step async", "step 3", "step 2", "step 1"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_work_then_runs_steps_in_lifo_order(
    start: Callable[..., Service], sig: signal.Signals
) -> None:
    service = start("0.3", "10")
    service.wait_for_line("ready")
    service.send(sig)
    status, lines, stderr = service.finish()
    assert status == 0, stderr
    assert lines[1] == f"requested: received {sig.name}"
    assert sorted(lines[2:4]) == ["work 0 done", "work 1 done"]
    assert lines[4:] == LIFO_STEPS


def test_a_second_sigterm_takes_the_forced_path(start: Callable[..., Service]) -> None:
    service = start("60", "60")
    service.wait_for_line("ready")
    started = time.monotonic()
    service.send(signal.SIGTERM)
    service.wait_for_line("requested:")
    service.send(signal.SIGTERM)
    status, lines, stderr = service.finish()
    assert time.monotonic() - started < 15
    assert status == 3, stderr
    assert not any(line.startswith("work") for line in lines)
    assert lines[-4:] == LIFO_STEPS
    assert "skipping the drain" in stderr
    assert "CUT_OFF" in stderr


def test_a_failing_step_sets_the_exit_status(start: Callable[..., Service]) -> None:
    service = start("0", "10", "failing-step")
    service.wait_for_line("ready")
    service.send(signal.SIGTERM)
    status, lines, stderr = service.finish()
    assert status == 1, stderr
    assert lines[-4:] == LIFO_STEPS
    assert "cleanup step 'failing' failed" in stderr
    assert "ZeroDivisionError" in stderr


def test_a_uvicorn_body_drains_its_own_requests(start: Callable[..., Service]) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    service = start(source=UVICORN_SERVICE)
    port = int(service.wait_for_line("port ").split()[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        service.wait_for_line("handler started")
        started = time.monotonic()
        service.send(signal.SIGTERM)
        reply = client.recv(1024)
    status, lines, stderr = service.finish()
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert "lifespan shutdown" in lines
    assert "serve() returned" in lines
    assert status == 0, stderr
    assert "skipping the drain" not in stderr
    assert "taken as handed on by the framework" in stderr
    assert time.monotonic() - started < 10


def test_a_thread_job_does_not_hold_up_run_or_the_exit(start: Callable[..., Service]) -> None:
    # asyncio.run() and the interpreter join executor threads: run() used to
    # return only when the 30 s job ended (3.11, 3.12), or the process to
    # exit only then (3.13). The deadline (here 2 s by default) bounds both.
    service = start(source=THREAD_JOB_SERVICE)
    service.wait_for_line("ready")
    started = time.monotonic()
    service.send(signal.SIGTERM)
    returned = service.wait_for_line("run() returned")
    returned_after = time.monotonic() - started
    status, _lines, stderr = service.finish(timeout=20)
    assert returned == "run() returned 3"
    assert returned_after < 10
    assert time.monotonic() - started < 15
    assert status == 3, stderr
    assert "cut off: unit 'report'" in stderr or "1 unit(s) of work cut off" in stderr
    assert "will hold up the exit" in stderr
    assert "the shutdown deadline passed during the phase DONE" in stderr


def test_a_blocking_step_is_ended_by_the_deadline(start: Callable[..., Service]) -> None:
    service = start("1.5", source=BLOCKING_STEP_SERVICE)
    service.wait_for_line("ready")
    started = time.monotonic()
    service.send(signal.SIGTERM)
    service.wait_for_line("step started")
    status, lines, stderr = service.finish(timeout=20)
    output = "\n".join(lines)
    assert time.monotonic() - started < 15
    assert status == 1, output + stderr  # STEPS_FAILED: the step overran
    assert "log: the shutdown deadline passed during the phase CLEANING_UP" in output
    assert "the event loop's thread is at" in output
    assert "flush_metrics" in output


def test_an_unanswered_signal_is_reported_and_the_next_one_ends_the_process(
    start: Callable[..., Service],
) -> None:
    # A signal the blocked loop does not answer is reported, with where the
    # loop is stuck; the next one ends the process, well before the deadline.
    service = start("60", source=BLOCKING_STEP_SERVICE)
    service.wait_for_line("ready")
    started = time.monotonic()
    service.send(signal.SIGTERM)
    service.wait_for_line("step started")
    service.send(signal.SIGTERM)
    service.wait_for_line("log: received SIGTERM, but the event loop has not answered it")
    service.send(signal.SIGTERM)
    status, lines, stderr = service.finish(timeout=20)
    output = "\n".join(lines)
    assert time.monotonic() - started < 15
    assert status == 1, output + stderr
    assert "time.sleep(0.01)" in output
    assert "received SIGTERM again while the event loop is blocked during the phase" in output


def test_a_third_signal_ends_the_process_at_once(start: Callable[..., Service]) -> None:
    service = start(source=STUBBORN_JOB_SERVICE)
    service.wait_for_line("ready")
    started = time.monotonic()
    service.send(signal.SIGTERM)
    service.wait_for_line("log: send SIGTERM again to skip the drain")
    service.send(signal.SIGTERM)
    service.wait_for_line("log: send SIGTERM a third time to end the process at once")
    service.wait_for_line("job: ignoring the cancellation")
    service.send(signal.SIGTERM)
    status, lines, stderr = service.finish(timeout=20)
    output = "\n".join(lines)
    assert time.monotonic() - started < 15
    assert status == 3, output + stderr
    assert "log: received SIGTERM a third time during the phase CANCELLING" in output
