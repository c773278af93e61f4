"""aiocleanup.contrib: uvicorn and aiohttp served under a GracefulShutdown.

Real servers on 127.0.0.1 port 0 and real clients. Most tests run the
server in the test's own loop and stop it with SIGUSR1 (never SIGINT or
SIGTERM in-process, so a mistake cannot stop the test run); the last ones
run a service in a child process under aiocleanup.run() and send it real
SIGTERM and SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aiocleanup import ExitStatus, GracefulShutdown, ShutdownResult, ShuttingDown
from aiocleanup.contrib import aiohttp as cleanup_aiohttp
from aiocleanup.contrib import uvicorn as cleanup_uvicorn

pytestmark = pytest.mark.asyncio

SIG = signal.SIGUSR1
#: Upper bound of every wait in these tests.
BOUND = 10.0
#: Far below the grace periods used to tell "promptly" from "waited".
PROMPTLY = 8.0


def send(sig: signal.Signals = SIG) -> None:
    os.kill(os.getpid(), sig)


async def until(condition: Callable[[], bool]) -> None:
    """Wait, bounded, for something that sets no event."""
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def send_again_once(returned: Callable[[], bool]) -> None:
    """The operator's second signal, a while after the service body returned."""
    await until(returned)
    await asyncio.sleep(0.05)
    send()


def result_of(shutdown: GracefulShutdown) -> ShutdownResult:
    assert shutdown.result is not None
    return shutdown.result


def outcomes(result: ShutdownResult) -> list[tuple[str, str, str]]:
    return [(item.outcome, item.kind, item.name) for item in result.unfinished]


async def post(session: aiohttp.ClientSession, url: str) -> str:
    """POST once (aiohttp retries an idempotent GET once when the server
    drops the connection); the status and body, or the client error's class."""
    try:
        async with session.post(url) as response:
            return f"{response.status} {await response.text()}"
    except aiohttp.ClientError as error:
        return type(error).__name__


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), BOUND)
    except (ConnectionRefusedError, ConnectionResetError):  # reset: the listener was closing
        return True
    writer.close()
    return False


def one_shot_session() -> aiohttp.ClientSession:
    """A client that opens a connection per request and never retries."""
    connector = aiohttp.TCPConnector(force_close=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=BOUND))


# uvicorn, in the test's loop.


class Events:
    """What the application did, in order, and a way to wait for each of it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = asyncio.Event()
        # A request for /work?seconds=release works until this is set.
        self.release = asyncio.Event()

    async def work(self, seconds: str) -> None:
        if seconds == "release":
            await self.release.wait()
        else:
            await asyncio.sleep(float(seconds))

    def add(self, event: str) -> None:
        self.seen.append(event)
        self._changed.set()

    async def wait_for(self, event: str) -> None:
        async def wait() -> None:
            while event not in self.seen:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), BOUND)


def starlette_app(events: Events, *, hang_in_lifespan_shutdown: bool = False) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.add("lifespan startup")
        yield
        events.add("lifespan shutdown")
        if hang_in_lifespan_shutdown:
            await asyncio.sleep(60)

    async def work(request: Request) -> PlainTextResponse:
        events.add("request started")
        try:
            await events.work(request.query_params["seconds"])
        except asyncio.CancelledError:
            events.add("request cancelled")
            raise
        events.add("request finished")
        return PlainTextResponse("done")

    return Starlette(routes=[Route("/work", work, methods=["POST"])], lifespan=lifespan)


def uvicorn_config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)


def uvicorn_port(server: uvicorn.Server) -> int:
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


async def test_uvicorn_drains_a_request_then_runs_the_lifespan_shutdown_as_a_step(
    fallback_handlers: dict[int, int],
) -> None:
    events = Events()

    async def client(port: int) -> None:
        async with one_shot_session() as session:
            request = asyncio.ensure_future(
                post(session, f"http://127.0.0.1:{port}/work?seconds=release")
            )
            await events.wait_for("request started")
            send()
            await until(lambda: shutdown.draining)
            events.add(f"new connection refused: {await refused(port)}")
            events.release.set()
            events.add(f"client: {await request}")

    async with GracefulShutdown(signals=(SIG,), grace=BOUND) as shutdown:
        server = await cleanup_uvicorn.start(shutdown, uvicorn_config(starlette_app(events)))
        assert server.started
        scenario = asyncio.ensure_future(client(uvicorn_port(server)))
        await shutdown.wait()
    await asyncio.wait_for(scenario, BOUND)
    assert events.seen == [
        "lifespan startup",
        "request started",
        "new connection refused: True",
        "request finished",
        "client: 200 done",
        "lifespan shutdown",
    ]
    result = result_of(shutdown)
    assert result.exit_status is ExitStatus.CLEAN
    assert result.drained
    assert result.steps == ("uvicorn",)
    assert result.unfinished == ()
    assert fallback_handlers[SIG] == 0


async def test_uvicorn_leaves_the_signals_to_the_shutdown() -> None:
    events = Events()
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    during: dict[signal.Signals, Any] = {}

    async with GracefulShutdown(signals=()) as shutdown:
        await cleanup_uvicorn.start(shutdown, uvicorn_config(starlette_app(events)))
        during = {sig: signal.getsignal(sig) for sig in before}
        shutdown.request("test")
    assert during == before
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN
    assert events.seen == ["lifespan startup", "lifespan shutdown"]


async def test_uvicorn_request_past_the_grace_is_cut_off_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = Events()
    answers: list[str] = []

    async def client(port: int) -> None:
        async with one_shot_session() as session:
            answers.append(await post(session, f"http://127.0.0.1:{port}/work?seconds=60"))

    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=0.05) as shutdown:
        server = await cleanup_uvicorn.start(shutdown, uvicorn_config(starlette_app(events)))
        scenario = asyncio.ensure_future(client(uvicorn_port(server)))
        await events.wait_for("request started")
        shutdown.request("test")
    await asyncio.wait_for(scenario, BOUND)
    assert time.monotonic() - started < PROMPTLY
    # uvicorn answers a cancelled request 500 (nothing had been sent), then
    # still runs the lifespan shutdown.
    assert answers == ["500 Internal Server Error"]
    assert events.seen[-2:] == ["request cancelled", "lifespan shutdown"]
    result = result_of(shutdown)
    assert result.exit_status is ExitStatus.CUT_OFF
    assert outcomes(result) == [("cut off", "unit", "POST /work")]
    assert result.step_failures == ()


async def test_uvicorn_second_signal_cuts_the_request_off_at_once(
    fallback_handlers: dict[int, int],
) -> None:
    events = Events()
    answers: list[str] = []

    async def client(port: int) -> None:
        async with one_shot_session() as session:
            answers.append(await post(session, f"http://127.0.0.1:{port}/work?seconds=60"))

    returned = False
    started = time.monotonic()
    async with GracefulShutdown(signals=(SIG,), grace=60) as shutdown:
        server = await cleanup_uvicorn.start(shutdown, uvicorn_config(starlette_app(events)))
        scenario = asyncio.ensure_future(client(uvicorn_port(server)))
        await events.wait_for("request started")
        send()
        await shutdown.wait()
        operator = asyncio.ensure_future(send_again_once(lambda: returned))
        returned = True
    await operator
    await asyncio.wait_for(scenario, BOUND)
    assert time.monotonic() - started < PROMPTLY
    assert answers == ["500 Internal Server Error"]
    result = result_of(shutdown)
    assert result.forced
    assert result.exit_status is ExitStatus.CUT_OFF
    assert outcomes(result) == [("cut off", "unit", "POST /work")]
    # Unlike uvicorn's own force_exit, the lifespan shutdown still runs.
    assert events.seen[-1] == "lifespan shutdown"
    assert fallback_handlers[SIG] == 0


async def test_uvicorn_idle_connection_gets_a_retryable_refusal_after_the_stop() -> None:
    events = Events()
    async with GracefulShutdown(signals=()) as shutdown:
        server = await cleanup_uvicorn.start(shutdown, uvicorn_config(starlette_app(events)))
        reader, writer = await asyncio.open_connection("127.0.0.1", uvicorn_port(server))
        shutdown.request("test")
        writer.write(b"POST /work?seconds=0 HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), BOUND)
        writer.close()
    # uvicorn closes idle connections at its next look at should_exit; a
    # request that arrives first is refused by the middleware.
    if answer:
        head = answer.decode().lower()
        assert head.startswith("http/1.1 503 service unavailable\r\n"), head
        assert "\r\nconnection: close\r\n" in head
        assert "\r\nretry-after: 1\r\n" in head
    assert "request started" not in events.seen
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_uvicorn_middleware_refuses_with_503_connection_close_and_retry_after() -> None:
    sent: list[dict[str, Any]] = []
    ran: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ran.append(scope["type"])

    async def record(message: Any) -> None:
        sent.append(dict(message))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async with GracefulShutdown(signals=()) as shutdown:
        middleware = cleanup_uvicorn._Inflight(app, shutdown)
        await middleware({"type": "http", "method": "GET", "path": "/"}, receive, record)
        shutdown.request("test")
        await middleware({"type": "http", "method": "POST", "path": "/jobs"}, receive, record)
        await middleware({"type": "lifespan"}, receive, record)
    assert ran == ["http", "lifespan"]
    [start, body] = sent
    assert start["status"] == 503
    assert (b"connection", b"close") in start["headers"]
    assert (b"retry-after", b"1") in start["headers"]
    assert body["body"].startswith(b"shutting down")


async def test_uvicorn_lifespan_shutdown_past_its_step_timeout_fails_the_step() -> None:
    events = Events()
    started = time.monotonic()
    async with GracefulShutdown(signals=(), cancel_timeout=1.0) as shutdown:
        config = uvicorn_config(starlette_app(events, hang_in_lifespan_shutdown=True))
        server = await cleanup_uvicorn.start(shutdown, config, timeout=0.2)
        shutdown.request("test")
    assert time.monotonic() - started < PROMPTLY
    assert server.force_exit
    result = result_of(shutdown)
    assert result.exit_status is ExitStatus.STEPS_FAILED
    [failure] = result.step_failures
    assert failure.name == "uvicorn"
    assert isinstance(failure.exception, TimeoutError)


async def test_uvicorn_that_cannot_start_raises_and_fails_no_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise LookupError("no database")
        yield

    config = uvicorn.Config(
        Starlette(lifespan=lifespan), host="127.0.0.1", port=0, log_config=None, lifespan="on"
    )
    with pytest.raises(RuntimeError, match="uvicorn could not start"):
        async with GracefulShutdown(signals=()) as shutdown:
            await cleanup_uvicorn.start(shutdown, config)
    result = result_of(shutdown)
    assert result.step_failures == ()
    assert [item.outcome for item in result.unfinished] == ["failed"]


async def test_uvicorn_arguments_are_checked() -> None:
    async with GracefulShutdown(signals=()) as shutdown:
        with pytest.raises(TypeError, match=r"uvicorn\.Config"):
            await cleanup_uvicorn.start(shutdown, object())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="GracefulShutdown"):
            await cleanup_uvicorn.start(object(), uvicorn_config(None))  # type: ignore[arg-type]
        shutdown.request("test")
        with pytest.raises(ShuttingDown):
            await cleanup_uvicorn.start(shutdown, uvicorn_config(None))
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


# aiohttp, in the test's loop.


def aiohttp_app(events: Events) -> web.Application:
    async def work(request: web.Request) -> web.Response:
        events.add("request started")
        try:
            await events.work(request.query["seconds"])
        except asyncio.CancelledError:
            events.add("request cancelled")
            raise
        events.add("request finished")
        return web.Response(text="done")

    async def database(app: web.Application) -> AsyncIterator[None]:
        events.add("cleanup_ctx: opened")
        yield
        events.add("cleanup_ctx: closed")

    async def on_shutdown(app: web.Application) -> None:
        events.add("on_shutdown")

    async def on_cleanup(app: web.Application) -> None:
        events.add("on_cleanup")

    app = web.Application()
    app.router.add_post("/work", work)
    app.cleanup_ctx.append(database)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


def aiohttp_port(runner: web.AppRunner) -> int:
    port: int = runner.addresses[0][1]
    return port


async def test_aiohttp_drains_a_request_then_cleans_up_in_aiohttp_order(
    fallback_handlers: dict[int, int],
) -> None:
    events = Events()

    async def client(port: int) -> None:
        async with one_shot_session() as session:
            request = asyncio.ensure_future(
                post(session, f"http://127.0.0.1:{port}/work?seconds=release")
            )
            await events.wait_for("request started")
            send()
            await events.wait_for("on_shutdown")  # after the listener closed
            events.add(f"new connection refused: {await refused(port)}")
            events.release.set()
            events.add(f"client: {await request}")

    async with GracefulShutdown(signals=(SIG,), grace=BOUND) as shutdown:
        runner = await cleanup_aiohttp.start(shutdown, aiohttp_app(events), port=0)
        scenario = asyncio.ensure_future(client(aiohttp_port(runner)))
        await shutdown.wait()
    await asyncio.wait_for(scenario, BOUND)
    assert events.seen == [
        "cleanup_ctx: opened",
        "request started",
        "on_shutdown",
        "new connection refused: True",
        "request finished",
        "client: 200 done",
        "cleanup_ctx: closed",
        "on_cleanup",
    ]
    result = result_of(shutdown)
    assert result.exit_status is ExitStatus.CLEAN
    assert result.steps == ("aiohttp",)
    assert fallback_handlers[SIG] == 0


async def test_aiohttp_request_past_the_grace_is_cut_off_and_reported() -> None:
    events = Events()
    answers: list[str] = []

    async def client(port: int) -> None:
        async with one_shot_session() as session:
            answers.append(await post(session, f"http://127.0.0.1:{port}/work?seconds=60"))

    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=0.05) as shutdown:
        runner = await cleanup_aiohttp.start(shutdown, aiohttp_app(events), port=0)
        scenario = asyncio.ensure_future(client(aiohttp_port(runner)))
        await events.wait_for("request started")
        shutdown.request("test")
    await asyncio.wait_for(scenario, BOUND)
    assert time.monotonic() - started < PROMPTLY
    # The handler is cancelled: its client sees the connection close.
    assert answers == ["ServerDisconnectedError"]
    assert events.seen[-3:] == ["request cancelled", "cleanup_ctx: closed", "on_cleanup"]
    result = result_of(shutdown)
    assert result.exit_status is ExitStatus.CUT_OFF
    assert outcomes(result) == [("cut off", "unit", "POST /work")]


async def test_aiohttp_second_signal_cuts_the_request_off_at_once(
    fallback_handlers: dict[int, int],
) -> None:
    events = Events()
    answers: list[str] = []

    async def client(port: int) -> None:
        async with one_shot_session() as session:
            answers.append(await post(session, f"http://127.0.0.1:{port}/work?seconds=60"))

    returned = False
    started = time.monotonic()
    async with GracefulShutdown(signals=(SIG,), grace=60) as shutdown:
        runner = await cleanup_aiohttp.start(shutdown, aiohttp_app(events), port=0)
        scenario = asyncio.ensure_future(client(aiohttp_port(runner)))
        await events.wait_for("request started")
        send()
        await shutdown.wait()
        operator = asyncio.ensure_future(send_again_once(lambda: returned))
        returned = True
    await operator
    await asyncio.wait_for(scenario, BOUND)
    assert time.monotonic() - started < PROMPTLY
    assert answers == ["ServerDisconnectedError"]
    result = result_of(shutdown)
    assert result.forced
    assert outcomes(result) == [("cut off", "unit", "POST /work")]
    assert events.seen[-2:] == ["cleanup_ctx: closed", "on_cleanup"]
    assert fallback_handlers[SIG] == 0


async def test_aiohttp_middleware_refuses_with_503_connection_close_and_retry_after() -> None:
    from aiohttp.test_utils import make_mocked_request

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="served")

    async with GracefulShutdown(signals=()) as shutdown:
        middleware = cleanup_aiohttp._inflight_middleware(shutdown)
        served = await middleware(make_mocked_request("GET", "/"), handler)
        shutdown.request("test")
        refusal = await middleware(make_mocked_request("POST", "/jobs"), handler)
    assert isinstance(served, web.Response)
    assert served.text == "served"
    assert refusal.status == 503
    assert refusal.keep_alive is False
    assert refusal.headers["Retry-After"] == "1"


async def test_aiohttp_on_shutdown_runs_once() -> None:
    events = Events()
    async with GracefulShutdown(signals=()) as shutdown:
        await cleanup_aiohttp.start(shutdown, aiohttp_app(events), port=0)
        shutdown.request("test")
    assert events.seen == [
        "cleanup_ctx: opened",
        "on_shutdown",
        "cleanup_ctx: closed",
        "on_cleanup",
    ]


async def test_aiohttp_failed_startup_cleans_up_and_propagates() -> None:
    events = Events()
    app = aiohttp_app(events)

    async def no_database(app: web.Application) -> None:
        raise LookupError("no database")

    app.on_startup.append(no_database)
    with pytest.raises(LookupError):
        async with GracefulShutdown(signals=()) as shutdown:
            await cleanup_aiohttp.start(shutdown, app, port=0)
    assert events.seen == ["cleanup_ctx: opened", "cleanup_ctx: closed"]
    assert result_of(shutdown).steps == ()


async def test_aiohttp_arguments_are_checked() -> None:
    async with GracefulShutdown(signals=()) as shutdown:
        with pytest.raises(TypeError, match=r"web\.Application"):
            await cleanup_aiohttp.start(shutdown, object())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="handle_signals"):
            await cleanup_aiohttp.start(shutdown, web.Application(), handle_signals=True)
        with pytest.raises(TypeError, match="shutdown_timeout"):
            await cleanup_aiohttp.start(shutdown, web.Application(), shutdown_timeout=1)
        frozen = web.Application()
        frozen.freeze()
        with pytest.raises(RuntimeError, match="no runner has set up"):
            await cleanup_aiohttp.start(shutdown, frozen)
        shutdown.request("test")
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


# Real signals, in a child process under aiocleanup.run().

SERVICE = """
import asyncio
import contextlib
import sys

import aiocleanup

FRAMEWORK = sys.argv[1]
GRACE = float(sys.argv[2])


def log(message):
    print(f"service: {message}", flush=True)


async def uvicorn_main(shutdown):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from aiocleanup.contrib import uvicorn as cleanup_uvicorn

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        log("lifespan shutdown")

    async def work(request):
        log("request started")
        await asyncio.sleep(float(request.query_params["seconds"]))
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/work", work, methods=["POST"])], lifespan=lifespan)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical")
    server = await cleanup_uvicorn.start(shutdown, config)
    log(f"listening on port {server.servers[0].sockets[0].getsockname()[1]}")
    await shutdown.wait()
    log("draining")


async def aiohttp_main(shutdown):
    from aiohttp import web

    from aiocleanup.contrib import aiohttp as cleanup_aiohttp

    async def work(request):
        log("request started")
        await asyncio.sleep(float(request.query["seconds"]))
        return web.Response(text="done")

    async def on_cleanup(app):
        log("on_cleanup")

    app = web.Application()
    app.router.add_post("/work", work)
    app.on_cleanup.append(on_cleanup)
    runner = await cleanup_aiohttp.start(shutdown, app, port=0)
    log(f"listening on port {runner.addresses[0][1]}")
    await shutdown.wait()
    log("draining")


main = uvicorn_main if FRAMEWORK == "uvicorn" else aiohttp_main
result = aiocleanup.run(main, grace=GRACE)
log(f"exit status {int(result)}")
raise SystemExit(result)
"""


async def run_child(
    tmp_path: Path, framework: str, signals: list[signal.Signals], seconds: float, grace: float
) -> tuple[str, list[str], int]:
    """Start the service, a request in flight, send *signals*; the answer, output, status."""
    script = tmp_path / "service.py"
    script.write_text(textwrap.dedent(SERVICE))
    service = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        framework,
        str(grace),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert service.stdout is not None
    lines: list[str] = []

    async def line_containing(text: str) -> str:
        while True:
            raw = await asyncio.wait_for(service.stdout.readline(), BOUND)  # type: ignore[union-attr]
            assert raw, "the service exited early:\n" + "\n".join(lines)
            lines.append(raw.decode().rstrip())
            if text in lines[-1]:
                return lines[-1]

    try:
        port = int((await line_containing("listening on port")).split()[-1])
        async with one_shot_session() as session:
            request = asyncio.ensure_future(
                post(session, f"http://127.0.0.1:{port}/work?seconds={seconds}")
            )
            await line_containing("request started")
            for number, signum in enumerate(signals):
                if number:  # once the service body has returned, as an operator would
                    await line_containing("draining")
                service.send_signal(signum)
            await asyncio.wait_for(until_refused(port), BOUND)
            answer = await asyncio.wait_for(request, BOUND)
        rest, _ = await asyncio.wait_for(service.communicate(), BOUND)
        lines += rest.decode().splitlines()
        return answer, lines, await service.wait()
    finally:
        if service.returncode is None:
            service.kill()
            await service.wait()


def own(lines: list[str]) -> list[str]:
    """The lines the service printed itself (warnings are logged to stderr)."""
    return [line for line in lines if line.startswith("service: ")]


async def until_refused(port: int) -> None:
    for _ in range(1000):
        if await refused(port):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the listener did not close")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_uvicorn_service_drains_on_a_real_signal_and_exits_0(
    tmp_path: Path, signum: signal.Signals
) -> None:
    answer, lines, status = await run_child(tmp_path, "uvicorn", [signum], 0.3, BOUND)
    assert answer == "200 done"
    # Not -15: uvicorn does not raise the signal again after serve().
    assert status == 0, lines
    assert own(lines)[-2:] == ["service: lifespan shutdown", "service: exit status 0"]


async def test_uvicorn_service_sigterm_twice_cuts_off_and_exits_3(tmp_path: Path) -> None:
    answer, lines, status = await run_child(
        tmp_path, "uvicorn", [signal.SIGTERM, signal.SIGTERM], 60, 60
    )
    assert answer == "500 Internal Server Error"
    assert status == ExitStatus.CUT_OFF == 3, lines
    assert own(lines)[-2:] == ["service: lifespan shutdown", "service: exit status 3"]


async def test_aiohttp_service_drains_on_sigterm_and_exits_0(tmp_path: Path) -> None:
    answer, lines, status = await run_child(tmp_path, "aiohttp", [signal.SIGTERM], 0.3, BOUND)
    assert answer == "200 done"
    assert status == 0, lines
    assert own(lines)[-2:] == ["service: on_cleanup", "service: exit status 0"]


async def test_aiohttp_service_grace_spent_cuts_off_and_exits_3(tmp_path: Path) -> None:
    answer, lines, status = await run_child(tmp_path, "aiohttp", [signal.SIGTERM], 60, 0.1)
    assert answer == "ServerDisconnectedError"
    assert status == ExitStatus.CUT_OFF, lines
    assert own(lines)[-2:] == ["service: on_cleanup", "service: exit status 3"]


async def test_the_integrations_import_their_framework_only_when_imported() -> None:
    code = (
        "import sys, aiocleanup, aiocleanup.contrib; "
        "print(sorted({'uvicorn', 'aiohttp', 'starlette'} & set(sys.modules)))"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(child.communicate(), 60)
    assert output.decode().strip() == "[]"
