"""``aiocleanup.run()``: to services what :func:`asyncio.run` is to scripts."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from ._checks import check_callable, check_main
from ._signals import SignalApi
from .shutdown import DEFAULT_SIGNALS, BodyRole, GracefulShutdown, ShutdownResult

__all__ = ["run"]


def run(
    main: Callable[[GracefulShutdown], Awaitable[object]],
    *,
    grace: float = 10.0,
    cancel_timeout: float = 5.0,
    step_timeout: float = 5.0,
    drain_delay: float = 0.0,
    deadline: float | None = None,
    body: BodyRole = "drain",
    signals: Iterable[int] = DEFAULT_SIGNALS,
    signal_api: SignalApi = "auto",
    logger: logging.Logger | None = None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> ShutdownResult:
    """Run a service until it is asked to stop, shut it down, return the result.

    ``run()`` is to services what :func:`asyncio.run` is to scripts::

        async def main(shutdown: GracefulShutdown) -> None:
            shutdown.push(close_database, name="database")
            await serve_forever(shutdown)

        if __name__ == "__main__":
            raise SystemExit(aiocleanup.run(main, grace=10.0))

    It creates an event loop (with *loop_factory*, such as
    ``uvloop.new_event_loop``, if given), enters a :class:`GracefulShutdown`
    with the given arguments, awaits ``main(shutdown)`` as the service body
    and runs the shutdown phases when a signal arrives or *main* returns.
    Then it closes the loop in bounded phases: cancel the tasks still
    pending and wait up to *cancel_timeout*; close async generators, up to
    *cancel_timeout*; shut the default executor down without joining its
    threads in the loop (``asyncio.run()`` joins them, unbounded, on Python
    3.10 to 3.12), waiting up to *cancel_timeout* for them; close the loop.

    Returns the :class:`ShutdownResult`. It is an ``int``, the exit status,
    so ``raise SystemExit(run(main))`` exits with 0 (``CLEAN``), 1
    (``STEPS_FAILED``) or 3 (``CUT_OFF``); ``.report`` has the whole story
    as text.

    On timeout: there is always a deadline, *deadline* seconds after the
    request, by default the sum of the bounds above plus one second. A
    watchdog thread then logs the report and ends the process, whatever
    still blocks: a blocking call in the event loop, or threads the
    interpreter would join at exit after ``run()`` returned.

    On cancellation: a signal is the way to stop it; a second signal skips
    the drain and a third ends the process at once. With ``signals=()``,
    Ctrl-C raises :class:`KeyboardInterrupt` out of ``run()`` after the loop
    was closed.

    Raises:
        TypeError: if *main* is not an async function that takes one
            argument (passing ``main()`` instead of ``main``, or writing
            ``async def main():`` without the parameter, are the usual
            mistakes), or another argument has the wrong type.
        ValueError: for a bad timeout, signal or role (see
            :class:`GracefulShutdown`).
        RuntimeError: if called while an event loop is running in this
            thread, or signals are requested outside the main thread.
        Exception: whatever *main* raised, after the shutdown phases ran.
    """
    check_main(main)
    if loop_factory is not None:
        check_callable(
            loop_factory, expected="loop_factory must be a callable that returns an event loop"
        )
    graceful = GracefulShutdown(
        grace=grace,
        cancel_timeout=cancel_timeout,
        step_timeout=step_timeout,
        drain_delay=drain_delay,
        deadline=deadline,
        body=body,
        signals=signals,
        signal_api=signal_api,
        logger=logger,
    )
    # The deadline also covers closing the loop, and ends the process.
    graceful._covers_loop_closing = True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "run() cannot be called from a running event loop; "
            "use 'async with GracefulShutdown()' there"
        )
    loop = asyncio.new_event_loop() if loop_factory is None else loop_factory()
    try:
        if loop_factory is None:
            asyncio.set_event_loop(loop)
        loop.run_until_complete(_serve(main, graceful))
    finally:
        try:
            _close_loop(loop, graceful.cancel_timeout, graceful._signal_handlers.restore)
        finally:
            if loop_factory is None:
                asyncio.set_event_loop(None)
            graceful._release_watchdog()
    assert graceful.result is not None
    return graceful.result


async def _serve(main: Callable[[GracefulShutdown], object], graceful: GracefulShutdown) -> None:
    body = main(graceful)
    if not inspect.isawaitable(body):
        name = getattr(main, "__qualname__", None) or repr(main)
        raise TypeError(
            "run() expected an async function that takes one argument, the "
            f"GracefulShutdown, such as 'async def main(shutdown): ...'; {name}() "
            f"returned {type(body).__name__}, which cannot be awaited"
        )
    try:
        async with graceful:
            await body
    finally:
        if isinstance(body, Coroutine) and inspect.getcoroutinestate(body) == "CORO_CREATED":
            body.close()  # __aenter__ failed: do not warn it was never awaited


def _close_loop(
    loop: asyncio.AbstractEventLoop, timeout: float, restore_signals: Callable[[], None]
) -> None:
    """Close *loop* the way :class:`asyncio.Runner` does, but bounded.

    The shutdown's signal handlers stay until the loop is about to close, so
    a signal meanwhile is still the shutdown's (and a third one ends the
    process); then *restore_signals* puts the previous ones back.
    """
    try:
        loop.run_until_complete(_finish_loop(loop, timeout))
    finally:
        # Phase 4: put the previous signal handlers back and close the loop.
        try:
            restore_signals()
        finally:
            loop.close()


async def _finish_loop(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    # Phase 1: cancel the tasks still pending; wait up to *timeout*.
    await _cancel_pending_tasks(loop, timeout)
    # Phase 2: close async generators still suspended, up to *timeout*.
    await _bounded(loop.shutdown_asyncgens(), timeout)
    # Phase 3: shut the default executor down; wait up to *timeout*.
    await _shut_down_executor(loop, timeout)


async def _cancel_pending_tasks(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    pending = asyncio.all_tasks(loop) - {asyncio.current_task(loop)}
    if not pending:
        return
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    for task in pending:
        if task.done() and not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )


async def _bounded(awaitable: Awaitable[Any], timeout: float) -> None:
    """Run *awaitable* for up to *timeout* seconds, then cancel it; never raise."""
    task = asyncio.ensure_future(awaitable)
    await asyncio.wait((task,), timeout=timeout)
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()  # retrieved: it is reported by the loop's own code


async def _shut_down_executor(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    # asyncio keeps the default executor private; loops without one of their
    # own (such as uvloop's) fall back to their own, bounded method.
    if not hasattr(loop, "_default_executor"):
        await _bounded(loop.shutdown_default_executor(), timeout)
        return
    executor = loop._default_executor
    if executor is None:
        return
    # loop.shutdown_default_executor() joins the executor's thread in the
    # loop when it is cancelled (Python 3.10 to 3.12): not bounded. Drop the
    # queued jobs and wait for the running ones in a thread of our own.
    executor.shutdown(wait=False, cancel_futures=True)
    joined = loop.create_future()

    def join() -> None:
        executor.shutdown(wait=True)
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            loop.call_soon_threadsafe(_resolve, joined)

    joiner = threading.Thread(target=join, name="aiocleanup executor shutdown", daemon=True)
    joiner.start()
    await asyncio.wait((joined,), timeout=timeout)
    if joined.done():
        joiner.join()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
