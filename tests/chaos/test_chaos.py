"""Chaos: services under aiocleanup.run() signalled at random moments.

Three shapes (a queue worker on a SQLite table, an aiohttp service and a
uvicorn service through aiocleanup.contrib), each in a process of its own,
receive SIGTERM, SIGTERM twice or SIGINT at a random moment while they
work; the grace period is random too, so some runs drain everything and
some cut work off. Every run is checked:

* jobs: every job ends done exactly once or back in the queue (none lost
  in ``taken``, none done twice), and every job put back was cut off;
* requests: every request the service accepted was completed, or its
  client got an answer it may retry (503 with ``Connection: close``, a
  refused connection, a connection closed before the service saw the
  request); a request cut off by the shutdown is reported as cut off;
* the exit status: ``CLEAN`` (0) when nothing was cut off, ``CUT_OFF`` (3)
  when something was, also after a second signal; never a death by signal.

The seed is printed in the summary; ``AIOCLEANUP_CHAOS_SEED=<seed>`` draws
the same moments, grace periods and work again, and
``AIOCLEANUP_CHAOS_RUNS`` changes the number of runs per test (default 34:
306 for the nine tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "pidfd_open"), reason="the launcher forks and waits with pidfds (Linux)"
)

HERE = Path(__file__).resolve().parent
SHAPES = ["worker", "aiohttp", "uvicorn"]
KINDS = {
    "SIGTERM": [signal.SIGTERM],
    "SIGTERM twice": [signal.SIGTERM, signal.SIGTERM],
    "SIGINT": [signal.SIGINT],
}
RUNS = int(os.environ.get("AIOCLEANUP_CHAOS_RUNS", "34"))
#: Runs of one test at the same time.
CONCURRENCY = 4
#: Grace periods drawn from: shorter than most work, about as long, longer.
GRACES = (0.02, 0.08, 0.6)
JOBS = 150
#: Upper bounds of the waits of one run.
READY_BOUND = 20.0
EXIT_BOUND = 20.0
CLIENT_BOUND = 10.0


@dataclass
class Run:
    """One run: what was drawn, what happened, what is wrong."""

    index: int
    shape: str
    kind: str
    seed: str
    grace: float
    delays: list[float]
    workers: int = 0
    pid: int = 0
    status: int | None = None
    result: dict[str, Any] | None = None
    outcomes: dict[str, str] = field(default_factory=dict)  # request id -> outcome
    # What the service said it did: request ids started, done, cut off.
    server: dict[str, list[str]] = field(default_factory=dict)
    cleaned_up: bool = False
    late_signal: bool = False
    signals: int = 0
    jobs: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    log: Path | None = None

    def describe(self) -> str:
        tail = ""
        if self.log is not None and self.log.exists():
            tail = "\n    ".join(self.log.read_text(errors="replace").splitlines()[-15:])
        return (
            f"run {self.index} ({self.shape}, {self.kind}, seed {self.seed!r}, grace "
            f"{self.grace}, delays {[round(d, 3) for d in self.delays]}): "
            f"{'; '.join(self.problems)}\n  status {self.status}, result {self.result}\n"
            f"  log:\n    {tail}"
        )


class Launcher:
    """The fork server (launcher.py) and the channel the services talk back on."""

    def __init__(self, process: asyncio.subprocess.Process, channel_port: int) -> None:
        self.process = process
        self.channel_port = channel_port
        self.pids: dict[int, asyncio.Future[int]] = {}
        self.statuses: dict[int, asyncio.Future[int]] = {}
        self.events: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self.reader: asyncio.Task[None] | None = None

    def expect(self, run_id: int) -> None:
        loop = asyncio.get_running_loop()
        self.pids[run_id] = loop.create_future()
        self.statuses[run_id] = loop.create_future()
        self.events[run_id] = asyncio.Queue()

    async def read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "pid" in message:
                self.pids[message["id"]].set_result(message["pid"])
            elif "status" in message:
                self.statuses[message["id"]].set_result(message["status"])

    async def channel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        run_id = None
        try:
            while line := await reader.readline():
                message = json.loads(line)
                run_id = message["id"]
                self.events[run_id].put_nowait(message)
        finally:
            writer.close()
            if run_id is not None:
                self.events[run_id].put_nowait({"id": run_id, "event": "closed"})

    async def start(self, spec: dict[str, Any]) -> int:
        self.expect(spec["id"])
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(spec) + "\n").encode())
        await self.process.stdin.drain()
        return await asyncio.wait_for(self.pids[spec["id"]], READY_BOUND)


@contextlib.asynccontextmanager
async def launched(shape: str) -> AsyncIterator[Launcher]:
    launchers: list[Launcher] = []

    async def channel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await launchers[0].channel(reader, writer)

    launcher: Launcher | None = None
    server = await asyncio.start_server(channel, "127.0.0.1", 0)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "launcher.py"),
        shape,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), READY_BOUND)
        assert json.loads(first) == {"ready": shape}
        launcher = Launcher(process, server.sockets[0].getsockname()[1])
        launchers.append(launcher)
        launcher.reader = asyncio.ensure_future(launcher.read())
        yield launcher
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), EXIT_BOUND)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
        if launcher is not None and launcher.reader is not None:
            launcher.reader.cancel()
        server.close()


# HTTP clients, on raw streams: a refused connection, a connection closed
# before any answer and a reset must be told apart exactly.


def request_bytes(request_id: str, milliseconds: int, keep_alive: bool) -> bytes:
    connection = "" if keep_alive else "Connection: close\r\n"
    return (
        f"POST /work?id={request_id}&ms={milliseconds} HTTP/1.1\r\nHost: chaos\r\n"
        f"Content-Length: 0\r\n{connection}\r\n"
    ).encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], str] | None:
    """One response, or None if the connection ended before a complete one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    try:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return int(status_line.split()[1]), headers, body.decode(errors="replace")


def classify(request_id: str, response: tuple[int, dict[str, str], str] | None) -> str:
    if response is None:
        return "dropped"
    status, headers, body = response
    if status == 200 and body == f"done {request_id}":
        return "completed"
    if status == 503 and headers.get("connection") == "close" and "retry-after" in headers:
        return "refused 503"
    if status == 500:
        return "500"
    return f"unexpected {status} {headers} {body!r}"


async def client(
    port: int, run: Run, number: int, rng: random.Random, keep_alive: bool, stop: asyncio.Event
) -> None:
    """Send requests one after another until the listener refuses or *stop*."""
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    sent = 0
    try:
        while not stop.is_set():
            request_id = f"{run.index}-{number}-{sent}"
            sent += 1
            if streams is None:
                try:
                    streams = await asyncio.open_connection("127.0.0.1", port)
                except ConnectionError:
                    # Refused, or reset when the listener closed with the
                    # connection still in its backlog: nothing was sent.
                    run.outcomes[request_id] = "connection refused"
                    return
            reader, writer = streams
            try:
                writer.write(request_bytes(request_id, rng.randint(5, 80), keep_alive))
                await writer.drain()
            except ConnectionError:
                pass  # read_response sees the end
            response = await read_response(reader)
            run.outcomes[request_id] = classify(request_id, response)
            if not keep_alive or response is None or response[1].get("connection") == "close":
                writer.close()
                streams = None
    finally:
        if streams is not None:
            streams[1].close()


# Checking a run.


def check_worker(run: Run, database: Path) -> None:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT state, done, requeued, takes FROM jobs").fetchall()
    lost = sum(1 for state, *_ in rows if state == "taken")
    duplicated = sum(1 for _, done, *_ in rows if done > 1)
    mismatched = sum(
        1 for state, done, *_ in rows if (state == "done") != (done == 1) or state == "taken"
    )
    requeued = sum(row[2] for row in rows)
    run.jobs = {
        "done": sum(1 for state, *_ in rows if state == "done"),
        "requeued": requeued,
        "lost": lost,
        "duplicated": duplicated,
        "mismatched": mismatched,
    }
    if lost or duplicated or mismatched:
        run.problems.append(f"jobs: {lost} lost, {duplicated} duplicated, {mismatched} mismatched")
    result = run.result
    if result is None:
        if not run.late_signal:
            run.problems.append("no result line")
        return
    if result["requeued"] != requeued:
        run.problems.append(f"the worker put back {result['requeued']}, the table says {requeued}")
    cut = [item for item in result["unfinished"] if item == ["cut off", "unit", "job"]]
    if len(cut) != requeued or len(cut) != len(result["unfinished"]):
        run.problems.append(
            f"{requeued} job(s) put back, reported unfinished {result['unfinished']}"
        )
    expect_status(run, cut_off=requeued > 0)


def check_http(run: Run) -> None:
    started, done, cut = (run.server.get(name, []) for name in ("started", "done", "cut"))
    if len(set(done)) != len(done) or len(set(started)) != len(started):
        run.problems.append("a request was worked on twice")
    if set(done) & set(cut):
        run.problems.append("a request both finished and cut off")
    if set(started) != set(done) | set(cut):
        run.problems.append(f"requests neither finished nor cut off: {set(started) - set(done)}")
    for request_id, outcome in run.outcomes.items():
        if outcome == "completed":
            fine = request_id in done
        elif outcome in ("refused 503", "connection refused"):
            fine = request_id not in started
        elif outcome == "500":  # uvicorn's answer to a cancelled request
            fine = request_id in cut
        elif outcome == "dropped":  # never seen by the service, or cut off
            fine = request_id in cut or request_id not in started
        else:
            fine = False
        if not fine:
            run.problems.append(f"request {request_id}: client saw {outcome!r}")
    unanswered = [rid for rid in done if run.outcomes.get(rid) != "completed"]
    if unanswered:
        run.problems.append(f"finished but the client got no answer: {unanswered}")
    if not run.cleaned_up:
        run.problems.append("the lifespan shutdown / on_cleanup did not run")
    result = run.result
    if result is None:
        if not run.late_signal:
            run.problems.append("no result line")
        return
    expected = [["cut off", "unit", "POST /work"]] * len(cut)
    if result["unfinished"] != expected:
        run.problems.append(f"{len(cut)} request(s) cut off, reported {result['unfinished']}")
    expect_status(run, cut_off=bool(cut))


def expect_status(run: Run, *, cut_off: bool) -> None:
    assert run.result is not None
    wanted = 3 if cut_off else 0
    status = run.result["status"] if run.late_signal else run.status
    if status != wanted or run.result["status"] != wanted:
        run.problems.append(
            f"exit status {run.status} (result {run.result['status']}), expected {wanted}: "
            f"{'something' if cut_off else 'nothing'} was cut off"
        )
    if run.result["step_failures"]:
        run.problems.append(f"cleanup steps failed: {run.result['step_failures']}")


# One run.


async def one_run(launcher: Launcher, run: Run, rng: random.Random, directory: Path) -> None:
    spec: dict[str, Any] = {
        "id": run.index,
        "shape": run.shape,
        "grace": run.grace,
        "channel": launcher.channel_port,
        "log": str(directory / f"run-{run.index}.log"),
    }
    run.log = Path(spec["log"])
    database = directory / f"run-{run.index}.sqlite"
    if run.shape == "worker":
        with contextlib.closing(sqlite3.connect(database)) as connection:
            connection.execute(
                "CREATE TABLE jobs (id INTEGER PRIMARY KEY, ms INTEGER, state TEXT, "
                "done INTEGER DEFAULT 0, requeued INTEGER DEFAULT 0, takes INTEGER DEFAULT 0)"
            )
            connection.executemany(
                "INSERT INTO jobs (ms, state) VALUES (?, 'queued')",
                [(rng.randint(5, 60),) for _ in range(JOBS)],
            )
            connection.commit()
        spec.update(db=str(database), workers=run.workers)
    run.pid = await launcher.start(spec)
    events = launcher.events[run.index]
    try:
        ready = await asyncio.wait_for(events.get(), READY_BOUND)
    except asyncio.TimeoutError:
        run.problems.append("no ready line")
        os.kill(run.pid, signal.SIGKILL)
        await launcher.statuses[run.index]
        return
    stop = asyncio.Event()
    clients: list[asyncio.Task[None]] = []
    if run.shape != "worker":
        clients = [
            asyncio.ensure_future(
                client(ready["port"], run, number, random.Random(rng.random()), number == 0, stop)
            )
            for number in range(4)
        ]
    for delay, signum in zip(run.delays, KINDS[run.kind], strict=True):
        await asyncio.sleep(delay)
        if launcher.statuses[run.index].done():
            break  # a second signal for a service that has already exited
        with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
            os.kill(run.pid, signum)
            run.signals += 1
    try:
        run.status = await asyncio.wait_for(launcher.statuses[run.index], EXIT_BOUND)
    except asyncio.TimeoutError:
        run.problems.append(f"still running {EXIT_BOUND} s after the last signal")
        os.kill(run.pid, signal.SIGKILL)
        run.status = await launcher.statuses[run.index]
    stop.set()
    if clients:
        await asyncio.wait_for(asyncio.gather(*clients), CLIENT_BOUND)
    while True:  # what the service said, up to the end of its connection
        message = await asyncio.wait_for(events.get(), CLIENT_BOUND)
        event = message["event"]
        if event == "closed":
            break
        if event == "result":
            run.result = message
        elif event == "cleaned up":
            run.cleaned_up = True
        elif event in ("started", "done", "cut"):
            run.server.setdefault(event, []).append(message["request"])
    if run.status is not None and run.status < 0:
        # A second SIGTERM that arrives once the shutdown is over, after the
        # handlers were put back, has SIGTERM's default action.
        run.late_signal = (
            run.kind == "SIGTERM twice"
            and run.status == -signal.SIGTERM
            and not (run.result and run.result["forced"])
        )
        if not run.late_signal:
            run.problems.append(f"killed by signal {-run.status}")
    if run.shape == "worker":
        check_worker(run, database)
    else:
        check_http(run)


def request_figures(run: Run) -> Counter[str]:
    """The clients' outcomes, with the service's word on the ambiguous ones."""
    cut = set(run.server.get("cut", ()))
    figures: Counter[str] = Counter()
    for request_id, outcome in run.outcomes.items():
        if outcome in ("500", "dropped") and request_id in cut:
            figures["cut off"] += 1
        elif outcome == "dropped":
            figures["dropped unseen"] += 1
        else:
            figures[outcome] += 1
    return figures


def figures_of(shape: str, kind: str, runs: list[Run]) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    for run in runs:
        outcomes.update(request_figures(run))
    jobs: Counter[str] = Counter()
    for run in runs:
        jobs.update(run.jobs)
    return {
        "shape": shape,
        "kind": kind,
        "runs": len(runs),
        "signals": sum(run.signals for run in runs),
        "statuses": dict(Counter(str(run.status) for run in runs)),
        "statuses_reported": dict(
            Counter(str(run.result["status"]) for run in runs if run.result is not None)
        ),
        "forced": sum(1 for run in runs if run.result and run.result["forced"]),
        "late_signal": sum(1 for run in runs if run.late_signal),
        "late_signal_before_result": sum(
            1 for run in runs if run.late_signal and run.result is None
        ),
        "mismatched_requests": sum(
            1
            for run in runs
            for problem in run.problems
            if problem.startswith(("request ", "finished but", "requests neither"))
        ),
        "jobs": dict(jobs),
        "requests": dict(outcomes),
        "failed_runs": sum(1 for run in runs if run.problems),
    }


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("shape", SHAPES)
def test_chaos(
    shape: str,
    kind: str,
    chaos_seed: str,
    tmp_path: Path,
    record_property: Any,
) -> None:
    runs = [draw(index, shape, kind, chaos_seed) for index in range(RUNS)]

    async def main() -> None:
        async with launched(shape) as launcher:
            limit = asyncio.Semaphore(CONCURRENCY)

            async def limited(run: Run) -> None:
                async with limit:
                    await one_run(launcher, run, random.Random(run.seed + ":work"), tmp_path)

            await asyncio.gather(*(limited(run) for run in runs))

    asyncio.run(main())
    figures = figures_of(shape, kind, runs)
    record_property("chaos", json.dumps(figures))
    print(f"\nchaos {shape}, {kind}: {json.dumps(figures)}")
    failed = [run.describe() for run in runs if run.problems]
    assert not failed, f"{len(failed)} of {len(runs)} runs failed:\n" + "\n".join(failed[:5])


def draw(index: int, shape: str, kind: str, seed: str) -> Run:
    run_seed = f"{seed}:{shape}:{kind}:{index}"
    rng = random.Random(run_seed)
    delays = [rng.uniform(0.0, 0.25)] + [rng.uniform(0.0, 0.06) for _ in KINDS[kind][1:]]
    return Run(
        index=index,
        shape=shape,
        kind=kind,
        seed=run_seed,
        grace=rng.choice(GRACES),
        delays=delays,
        workers=rng.randint(1, 4),
    )
