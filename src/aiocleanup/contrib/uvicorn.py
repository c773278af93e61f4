"""Serve an ASGI application with uvicorn under a :class:`~aiocleanup.GracefulShutdown`.

::

    import aiocleanup
    import uvicorn
    from aiocleanup.contrib import uvicorn as cleanup_uvicorn

    async def main(shutdown):
        config = uvicorn.Config(app, host="127.0.0.1", port=8000)
        await cleanup_uvicorn.serve(shutdown, config)

    raise SystemExit(aiocleanup.run(main, grace=20))

uvicorn's ``Server.serve()`` runs in a task of its own, with uvicorn's own
signal handling switched off: the shutdown's handlers hear SIGINT and
SIGTERM, and nothing raises a caught signal again once ``serve()`` returns,
so the process exits with the shutdown's status instead of dying by the
signal. The shutdown's phases drive uvicorn:

1. when the service stops accepting work, the listener closes and
   ``server.should_exit`` is set: uvicorn closes idle connections and lets
   the busy ones finish their response;
2. each HTTP request is an in-flight unit, so the drain waits for the
   requests up to the shutdown's *grace*; a request that still arrives on
   an open connection is answered 503 with ``Connection: close`` and
   ``Retry-After``; WebSocket connections and the lifespan are not units
   (end a WebSocket when ``shutdown.wait()`` returns);
3. a request still running after the grace (or at once, after a second
   signal) is cancelled like any unit and reported as cut off; uvicorn
   answers it ``500`` if its response had not started, or closes the
   connection;
4. the rest of uvicorn's shutdown, the lifespan shutdown among it, is a
   cleanup step: it runs after the drain, bounded by its timeout.

uvicorn's ``timeout_graceful_shutdown`` is replaced by *grace* +
*cancel_timeout* (rounded up): a backstop only, so that a request that
ignores cancellation still lets uvicorn go on to the lifespan shutdown.

Needs uvicorn 0.29 or later; it is imported by this module only.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import uvicorn

from .._checks import check_name, check_optional_seconds
from .._errors import ShuttingDown
from ..shutdown import GracefulShutdown
from ._common import REFUSAL_BODY, REFUSAL_STATUS, RETRY_AFTER, bounds

__all__ = ["serve", "start"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def start(
    shutdown: GracefulShutdown,
    config: uvicorn.Config,
    *,
    name: str = "uvicorn",
    timeout: float | None = None,
) -> uvicorn.Server:
    """Start serving *config* with uvicorn; return the server once it listens.

    Wraps the application so that each HTTP request is an in-flight unit of
    *shutdown*, registers a stop hook that closes the listener and sets
    ``server.should_exit``, and a cleanup step, named *name*, that waits for
    the rest of uvicorn's shutdown, the lifespan shutdown among it (see the
    module docstring). ``config.timeout_graceful_shutdown`` is replaced.
    The server's port is ``server.servers[0].sockets[0].getsockname()[1]``.

    The body should then wait for the shutdown (``await shutdown.wait()``),
    or call :func:`serve`, which does both.

    On cancellation: ``CancelledError`` propagates; the server, if it was
    started, is stopped by the shutdown's phases as usual.

    On timeout: ``start()`` has no timeout of its own: it returns once
    uvicorn listens, or raises once uvicorn gave up starting. The cleanup
    step is cancelled after *timeout* seconds (default: the shutdown's
    *step_timeout*): ``server.force_exit`` is set, uvicorn's task is
    cancelled, and the step is reported as failed, with a
    :class:`TimeoutError`.

    Raises:
        TypeError: if *shutdown* or *config* has the wrong type, or *name*
            is not a str.
        ValueError: if *timeout* is negative, NaN or infinite.
        ShuttingDown: if the service already stopped accepting work.
        RuntimeError: if uvicorn could not load the application or start
            (its lifespan startup failed, the address is in use); uvicorn's
            own log says why.
    """
    limits = bounds(shutdown)
    if not isinstance(config, uvicorn.Config):
        raise TypeError(f"config must be a uvicorn.Config, got {type(config).__name__}")
    check_name(name, what="name")
    step_timeout = check_optional_seconds(timeout, what="timeout")
    serving = _Serving(shutdown, config)
    # Registered first: from here on the shutdown's phases stop the server.
    shutdown.push(serving.finish, name=name, timeout=step_timeout)
    shutdown.on_stop(serving.stop_accepting, name=f"{name}: stop accepting")
    config.timeout_graceful_shutdown = math.ceil(limits.grace + limits.cancel_timeout)
    await serving.start()
    return serving.server


async def serve(
    shutdown: GracefulShutdown,
    config: uvicorn.Config,
    *,
    name: str = "uvicorn",
    timeout: float | None = None,
) -> None:
    """Serve *config* with uvicorn until the service stops accepting work.

    :func:`start`, then ``await shutdown.wait()``: the drain, uvicorn's
    shutdown and its lifespan shutdown follow in the shutdown's phases, after
    this returns. Use it as the service body, or inside it.

    On cancellation: ``CancelledError`` propagates; the server is stopped by
    the shutdown's phases.

    On timeout: as for :func:`start`; waiting for the shutdown has no
    timeout of its own.

    Raises:
        The exceptions of :func:`start`; :class:`ShuttingDown` ends a service
        body quietly.
    """
    await start(shutdown, config, name=name, timeout=timeout)
    await shutdown.wait()


class _Server(uvicorn.Server):
    """uvicorn's server, leaving the signals to the GracefulShutdown."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.aiocleanup_listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own version replaces the SIGINT/SIGTERM handlers with
        # signal.signal() while serve() runs, then raises each signal it
        # caught again: the process would die by SIGTERM after a clean drain.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        except SystemExit as exiting:
            # uvicorn calls sys.exit() when it cannot start; in a task, that
            # would escape the event loop.
            raise RuntimeError(
                f"uvicorn could not start (it asked to exit with status {exiting.code}); "
                "its log says why"
            ) from None
        self.aiocleanup_listening.set()


class _Serving:
    """One uvicorn server under a GracefulShutdown: its task, hook and step."""

    def __init__(self, shutdown: GracefulShutdown, config: uvicorn.Config) -> None:
        self.shutdown = shutdown
        self.config = config
        self.server = _Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = self.config
        try:
            if not config.loaded:
                config.load()
        except SystemExit as exiting:
            raise RuntimeError(
                f"uvicorn could not load the application (exit status {exiting.code}); "
                "its log says why"
            ) from None
        config.loaded_app = _Inflight(config.loaded_app, self.shutdown)
        task = asyncio.ensure_future(self.server.serve())
        self.task = task
        listening = asyncio.ensure_future(self.server.aiocleanup_listening.wait())
        try:
            await asyncio.wait((task, listening), return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
        if self.server.aiocleanup_listening.is_set():
            return
        if task.cancelled():
            raise RuntimeError("uvicorn's task was cancelled before it listened")
        error = task.exception()
        if error is not None:
            raise error
        raise RuntimeError("uvicorn stopped before it listened")

    def stop_accepting(self) -> None:
        server = self.server
        server.should_exit = True
        # uvicorn looks at should_exit every 0.1 s; close the listener now.
        for listener in getattr(server, "servers", []):
            listener.close()

    async def finish(self) -> None:
        task = self.task
        if task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait((task,))
        except asyncio.CancelledError:
            # The step's timeout: stop waiting for connections and cancel.
            self.server.force_exit = True
            task.cancel()
            await asyncio.wait((task,))
            raise
        if task.cancelled():
            raise asyncio.CancelledError("uvicorn's task was cancelled")
        error = task.exception()
        # A failure to start was raised by start() already.
        if error is not None and self.server.aiocleanup_listening.is_set():
            raise error


class _Inflight:
    """ASGI middleware: each HTTP request is an in-flight unit, refused once stopping."""

    def __init__(self, app: ASGIApp, shutdown: GracefulShutdown) -> None:
        self.app = app
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entered = False
        try:
            async with self.shutdown.inflight(name=f"{scope['method']} {scope['path']}"):
                entered = True
                await self.app(scope, receive, send)
        except ShuttingDown:
            if entered:
                raise
            await _refuse(send)


async def _refuse(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": REFUSAL_STATUS,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(REFUSAL_BODY)).encode()),
                (b"connection", b"close"),
                (b"retry-after", RETRY_AFTER.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": REFUSAL_BODY, "more_body": False})
