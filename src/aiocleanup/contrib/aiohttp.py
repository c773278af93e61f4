"""Serve an aiohttp application under a :class:`~aiocleanup.GracefulShutdown`.

::

    import aiocleanup
    from aiocleanup.contrib import aiohttp as cleanup_aiohttp

    async def main(shutdown):
        runner = await cleanup_aiohttp.start(shutdown, build_app(), port=8080)
        print(f"listening on port {runner.addresses[0][1]}")
        await shutdown.wait()

    raise SystemExit(aiocleanup.run(main, grace=20))

The application runs in a ``web.AppRunner(app, handle_signals=False)``: the
shutdown's handlers hear SIGINT and SIGTERM. The shutdown's phases drive
aiohttp in the order of ``AppRunner.cleanup()``:

1. when the service stops accepting work, the sites stop (the listener
   closes: new connections are refused), idle keep-alive connections are
   closed, busy ones are closed after their response, and the
   ``on_shutdown`` handlers run (as a stop hook: work to drain);
2. each request is an in-flight unit, so the drain waits for the requests
   up to the shutdown's *grace*; a request that still arrives on an open
   connection is answered 503 with ``Connection: close`` and
   ``Retry-After``;
3. a request still running after the grace (or at once, after a second
   signal) is cancelled like any unit and reported as cut off; its client
   sees the connection close without a response;
4. ``runner.cleanup()`` is a cleanup step: the ``cleanup_ctx`` exits and the
   ``on_cleanup`` handlers run after the drain, bounded by its timeout.

The runner's ``shutdown_timeout`` fits in that: every request has already
had the grace, so aiohttp's own wait in step 4 only concerns a handler that
ignored cancellation, and is half the shutdown's *cancel_timeout* (aiohttp
waits up to twice its ``shutdown_timeout``).

So that ``on_shutdown`` runs once, at the stop, :func:`start` moves the
application's ``on_shutdown`` handlers behind one handler that runs them
the first time only. It also puts a middleware first in
``app.middlewares``. Both happen before the application is frozen.

Needs aiohttp 3.10 or later; it is imported by this module only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .._checks import check_name, check_optional_seconds
from .._errors import ShuttingDown
from ..shutdown import GracefulShutdown
from ._common import REFUSAL_BODY, REFUSAL_STATUS, RETRY_AFTER, bounds

__all__ = ["serve", "start"]

_OWN_ARGUMENTS = ("handle_signals", "shutdown_timeout")


async def start(
    shutdown: GracefulShutdown,
    app: web.Application,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    name: str = "aiohttp",
    timeout: float | None = None,
    **runner_options: Any,
) -> web.AppRunner:
    """Set *app* up in a runner, serve it on *host*:*port*, return the runner.

    Runs the application's startup (``cleanup_ctx`` entries, ``on_startup``)
    and starts a ``web.TCPSite``; *port* 0 picks a free port, which is then
    ``runner.addresses[0][1]``. Registers a stop hook that stops the sites
    and runs ``on_shutdown``, and a cleanup step, named *name*, that runs
    ``runner.cleanup()`` (see the module docstring). *runner_options* go to
    ``web.AppRunner`` (``access_log``, ``keepalive_timeout``, ...).

    The body should then wait for the shutdown (``await shutdown.wait()``),
    or call :func:`serve`, which does both.

    On cancellation: ``CancelledError`` propagates; once the runner is set
    up, the cleanup step cleans it up as usual.

    On timeout: the startup has no timeout of its own. The cleanup step is
    cancelled after *timeout* seconds (default: the shutdown's
    *step_timeout* plus its *cancel_timeout*, which covers aiohttp's own
    wait) and reported as failed, with a :class:`TimeoutError`.

    Raises:
        TypeError: if *shutdown* or *app* has the wrong type, *name* is not
            a str, or *runner_options* has ``handle_signals`` or
            ``shutdown_timeout``, which this function sets.
        ValueError: if *timeout* is negative, NaN or infinite.
        RuntimeError: if *app* is already frozen (set up by another runner).
        ShuttingDown: if the service already stopped accepting work (the
            runner is then cleaned up by the cleanup step).
        OSError: if the site cannot listen (the address is in use).
        Exception: whatever the application's startup raised (the runner
            is then cleaned up before it propagates).
    """
    limits = bounds(shutdown)
    if not isinstance(app, web.Application):
        raise TypeError(f"app must be an aiohttp web.Application, got {type(app).__name__}")
    check_name(name, what="name")
    step_timeout = check_optional_seconds(timeout, what="timeout")
    for option in _OWN_ARGUMENTS:
        if option in runner_options:
            raise TypeError(
                f"start() sets {option} itself: the GracefulShutdown handles the signals "
                "and bounds the drain"
            )
    if app.frozen:
        raise RuntimeError(
            "start() needs an application that no runner has set up yet: it adds a "
            "middleware and wraps the on_shutdown handlers before the application is frozen"
        )
    shutdown_timeout = limits.cancel_timeout / 2
    if step_timeout is None:
        step_timeout = limits.step_timeout + limits.cancel_timeout
    app.middlewares.insert(0, _inflight_middleware(shutdown))
    on_shutdown = _RunOnce(app)
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=shutdown_timeout, **runner_options
    )
    try:
        await runner.setup()
    except BaseException:
        await runner.cleanup()
        raise
    # From here on the cleanup step owns the runner.
    try:
        shutdown.push(runner.cleanup, name=name, timeout=step_timeout)
    except BaseException:
        await runner.cleanup()
        raise

    async def stop_accepting() -> None:
        for site in list(runner.sites):
            await site.stop()
        server = runner.server
        if server is not None:
            server.pre_shutdown()  # idle connections now, busy ones after their response
        await on_shutdown.send()

    shutdown.on_stop(stop_accepting, name=f"{name}: stop accepting, on_shutdown")
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(
    shutdown: GracefulShutdown,
    app: web.Application,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    name: str = "aiohttp",
    timeout: float | None = None,
    **runner_options: Any,
) -> None:
    """Serve *app* on *host*:*port* until the service stops accepting work.

    :func:`start`, then ``await shutdown.wait()``: the drain and
    ``runner.cleanup()`` follow in the shutdown's phases, after this returns.

    On cancellation: ``CancelledError`` propagates; the runner is cleaned
    up by the shutdown's phases.

    On timeout: as for :func:`start`; waiting for the shutdown has no
    timeout of its own.

    Raises:
        The exceptions of :func:`start`; :class:`ShuttingDown` ends a service
        body quietly.
    """
    await start(shutdown, app, host=host, port=port, name=name, timeout=timeout, **runner_options)
    await shutdown.wait()


class _RunOnce:
    """The application's on_shutdown handlers, behind one that runs them once."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.handlers: list[Callable[[web.Application], Awaitable[object]]]
        self.handlers = list(app.on_shutdown)
        self.sent = False
        app.on_shutdown.clear()
        app.on_shutdown.append(self.handle)

    async def handle(self, app: web.Application) -> None:
        await self.send()

    async def send(self) -> None:
        if self.sent:
            return
        self.sent = True
        for handler in self.handlers:
            await handler(self.app)


def _inflight_middleware(shutdown: GracefulShutdown) -> Middleware:
    @web.middleware
    async def aiocleanup_inflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        entered = False
        try:
            async with shutdown.inflight(name=f"{request.method} {request.path}"):
                entered = True
                return await handler(request)
        except ShuttingDown:
            if entered:
                raise
            response = web.Response(
                status=REFUSAL_STATUS,
                body=REFUSAL_BODY,
                content_type="text/plain",
                headers={"Retry-After": RETRY_AFTER},
            )
            response.force_close()
            return response

    return aiocleanup_inflight
