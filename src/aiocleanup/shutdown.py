"""Turn SIGINT/SIGTERM into a graceful, bounded shutdown of a service.

:class:`GracefulShutdown` is the service's shutdown coordinator: it turns
signals into a shutdown request, tracks in-flight work, refuses new work once
a shutdown was requested, and then runs the phases in order, each with its
own bound:

1. stop accepting: the service body (the block inside ``async with``) is
   cancelled, after the in-flight unit it is running, if any, unless it
   awaits :meth:`GracefulShutdown.wait` and so stops by itself;
2. drain: wait up to ``grace`` seconds for in-flight work and spawned tasks;
   a second signal ends the wait at once;
3. cancel what remains and wait up to ``cancel_timeout`` seconds for it;
4. run the cleanup steps, last registered first, each bounded by its own
   timeout;
5. report: a :class:`ShutdownResult` with an exit status.

:func:`run` is to services what :func:`asyncio.run` is to scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import FrameType, TracebackType
from typing import Any, Literal, NamedTuple, TypeVar

from ._checks import check_callable, check_name, check_seconds, check_signals
from .tasks import ShutdownReport, TaskSupervisor

__all__ = [
    "ExitStatus",
    "GracefulShutdown",
    "ShutdownResult",
    "ShuttingDown",
    "StepFailure",
    "run",
]

T = TypeVar("T")
# A cleanup step: a plain function, or one that returns an awaitable.
Step = Callable[[], object]
StepT = TypeVar("StepT", bound=Step)
SignalApi = Literal["auto", "loop", "signal"]

_logger = logging.getLogger("aiocleanup")

DEFAULT_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class ShuttingDown(RuntimeError):
    """Raised when new work is offered after a shutdown was requested.

    :meth:`GracefulShutdown.inflight`, :meth:`GracefulShutdown.spawn` and
    (once cleanup began) :meth:`GracefulShutdown.push` raise it. Inside the
    service body it ends the body quietly: ``GracefulShutdown`` does not
    propagate it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"shutting down ({reason}); not accepting new work")
        self.reason = reason


class ExitStatus(enum.IntEnum):
    """The process exit status a shutdown asks for.

    ``CUT_OFF`` is 3, not 2, because 2 conventionally means a command-line
    usage error.
    """

    #: Everything in flight finished and every cleanup step succeeded.
    CLEAN = 0
    #: A cleanup step raised or timed out (checked first).
    STEPS_FAILED = 1
    #: Work still running after the grace period (or after a second signal)
    #: was cancelled.
    CUT_OFF = 3

    # Failures of spawned tasks are logged and reported in
    # ShutdownResult.tasks but do not change the status: a long-running
    # service is expected to survive them.


class StepFailure(NamedTuple):
    """A cleanup step that raised or timed out.

    A timeout is recorded as a :class:`TimeoutError` whose message names the
    step and its timeout.
    """

    name: str
    exception: BaseException


class ShutdownResult(NamedTuple):
    """What a graceful shutdown did.

    Attributes:
        reason: why the shutdown was requested, e.g. ``"received SIGTERM"``.
        forced: whether a second signal (or ``request(force=True)``) cut the
            drain short.
        drained: whether all in-flight work and spawned tasks finished in
            time, so nothing had to be cancelled.
        cut_off: how many in-flight units, spawned tasks and service bodies
            were still running when cancellation began.
        tasks: the report of the spawned tasks (see :meth:`GracefulShutdown.spawn`).
        steps: names of the cleanup steps, in the order they ran.
        step_failures: the steps that raised or timed out.
        exit_status: the status the process should exit with.
    """

    reason: str
    forced: bool
    drained: bool
    cut_off: int
    tasks: ShutdownReport
    steps: tuple[str, ...]
    step_failures: tuple[StepFailure, ...]
    exit_status: ExitStatus


class _CleanupStep(NamedTuple):
    callback: Step
    name: str
    timeout: float


class _SignalRestore(NamedTuple):
    signum: signal.Signals
    previous: Any  # whatever signal.getsignal() returned
    previous_loop_handle: asyncio.Handle | None
    via_loop: bool


class GracefulShutdown:
    """Coordinate a graceful, bounded shutdown of a service.

    ::

        async with GracefulShutdown(grace=10.0) as shutdown:
            shutdown.push(database.close, name="database")
            server = await start_server(shutdown)
            await shutdown.wait()

    Entering the block installs handlers for *signals*; the first signal
    requests a shutdown (like :meth:`request`) and a second one during the
    drain skips straight to cancellation. Leaving the block requests a
    shutdown if none was requested, runs the phases (see the module
    docstring), restores the previous signal handlers and stores the
    :class:`ShutdownResult` in :attr:`result`.

    Work is tracked three ways: ``async with shutdown.inflight():`` around a
    unit of work, :meth:`spawn` for background tasks, and the service body
    itself. Once a shutdown is requested, the body is cancelled at its next
    ``await`` outside an in-flight unit: it plays the part of the acceptor. A
    body that awaited :meth:`wait` is not cancelled: it is expected to stop
    accepting and return by itself, within the grace period.
    The ``CancelledError`` this causes, and :class:`ShuttingDown` raised in
    the body, end the block quietly.

    On cancellation: if the body is cancelled by something else, the drain is
    skipped (as with a second signal), the remaining phases run within their
    bounds and the ``CancelledError`` propagates. Other exceptions from the
    body propagate after the phases.

    On timeout: nothing raises. Work still running after *grace* is
    cancelled; work still running *cancel_timeout* seconds later is left
    running and reported; a step still running after its timeout is
    cancelled, given *cancel_timeout* seconds to stop, and reported. The
    whole shutdown therefore takes at most *grace* + *cancel_timeout* plus,
    per step, its timeout + *cancel_timeout*.

    Args:
        grace: seconds to let in-flight work finish after a request.
        cancel_timeout: seconds to wait for cancelled work to end.
        step_timeout: default timeout of each cleanup step.
        signals: the signals that request a shutdown; ``()`` installs none.
        signal_api: ``"loop"`` uses :meth:`asyncio.loop.add_signal_handler`
            (Unix); ``"signal"`` uses :func:`signal.signal` with a handler
            that hands over to the loop with
            :meth:`~asyncio.loop.call_soon_threadsafe` (for loops without
            ``add_signal_handler``, such as Windows'); ``"auto"`` tries the
            first and falls back to the second.
        logger: where progress and problems are logged; defaults to
            ``"aiocleanup"``.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if a timeout is negative, NaN or infinite, a signal is
            unknown or cannot be caught, or *signal_api* is not one of the
            three choices.
    """

    def __init__(
        self,
        *,
        grace: float = 10.0,
        cancel_timeout: float = 5.0,
        step_timeout: float = 5.0,
        signals: Iterable[int] = DEFAULT_SIGNALS,
        signal_api: SignalApi = "auto",
        logger: logging.Logger | None = None,
    ) -> None:
        self._grace = check_seconds(grace, what="grace")
        self._cancel_timeout = check_seconds(cancel_timeout, what="cancel_timeout")
        self._step_timeout = check_seconds(step_timeout, what="step_timeout")
        self._signals = check_signals(signals)
        if signal_api not in ("auto", "loop", "signal"):
            raise ValueError(f"signal_api must be 'auto', 'loop' or 'signal', got {signal_api!r}")
        self._signal_api: SignalApi = signal_api
        if logger is not None and not isinstance(logger, logging.Logger):
            raise TypeError(f"logger must be a logging.Logger or None, got {type(logger).__name__}")
        self._logger = logger if logger is not None else _logger
        self._supervisor = TaskSupervisor(
            grace=self._grace, cancel_timeout=self._cancel_timeout, logger=self._logger
        )
        self._steps: list[_CleanupStep] = []
        self._steps_started = False
        # Set by __aenter__.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._body: asyncio.Task[Any] | None = None
        self._requested_event: asyncio.Event | None = None
        self._signal_restores: list[_SignalRestore] = []
        # State of the request and the phases.
        self._entered = False
        self._reason: str | None = None
        self._forced = False
        self._draining = False
        self._drain_over = False
        self._phases: asyncio.Task[ShutdownResult] | None = None
        self._result: ShutdownResult | None = None
        # In-flight work: units, the tasks running them, and the body.
        self._inflight = 0
        self._unit_owners: dict[asyncio.Task[Any], int] = {}
        self._body_done = False
        self._body_watches = False
        self._body_cancels = 0
        self._cancel_body_after_unit = False
        self._waiter: asyncio.Future[None] | None = None

    # Observing the state.

    @property
    def requested(self) -> bool:
        """True once a shutdown was requested (by a signal, code or exit)."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why the shutdown was requested, or ``None`` before that."""
        return self._reason

    @property
    def draining(self) -> bool:
        """True while in-flight work is being drained (phase 2)."""
        return self._draining

    @property
    def forced(self) -> bool:
        """True once a second signal or ``request(force=True)`` skipped the drain."""
        return self._forced

    @property
    def inflight_count(self) -> int:
        """The number of in-flight units currently running."""
        return self._inflight

    @property
    def result(self) -> ShutdownResult | None:
        """The result, once the phases finished; ``None`` before that."""
        return self._result

    @property
    def exit_status(self) -> ExitStatus | None:
        """The :class:`ExitStatus` of the finished shutdown, or ``None``."""
        return None if self._result is None else self._result.exit_status

    # Requesting.

    def request(self, reason: str = "requested", *, force: bool = False) -> None:
        """Request a shutdown; the phases then run in the background.

        Further requests do not start another shutdown. With *force*, the
        drain is skipped (or cut short if it is under way), as a second
        signal does; once the drain is over, *force* has no effect.

        Cancellation and timeouts do not apply: this returns immediately.
        Await :meth:`wait` to wait for a request, or leave the ``async with``
        block to wait for the phases.

        Raises:
            TypeError: if *reason* is not a str or *force* not a bool.
            RuntimeError: if called before entering the ``async with`` block
                or from another thread (use ``loop.call_soon_threadsafe``).
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, got {type(reason).__name__}")
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, got {type(force).__name__}")
        loop = self._require_loop()
        if self._reason is None:
            self._reason = reason
            assert self._requested_event is not None
            self._requested_event.set()
            self._logger.info("shutdown requested: %s", reason)
            self._phases = loop.create_task(self._shut_down(), name="aiocleanup graceful shutdown")
        if force and not self._forced and not self._drain_over:
            self._forced = True
            self._wake()

    async def wait(self) -> str:
        """Wait until a shutdown is requested and return the reason.

        On cancellation: ``CancelledError`` propagates; nothing else happens.
        There is no timeout; wrap it in :func:`asyncio.wait_for` if you need
        one.

        Raises:
            RuntimeError: if called before entering the ``async with`` block.
        """
        self._require_loop()
        assert self._requested_event is not None
        if asyncio.current_task() is self._body:
            # The body watches for the request, so it will stop by itself.
            self._body_watches = True
        await self._requested_event.wait()
        assert self._reason is not None
        return self._reason

    # Tracking work.

    def inflight(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Track one unit of work: ``async with shutdown.inflight(): ...``.

        The drain waits for every unit to leave its block. Entering raises
        :class:`ShuttingDown` once a shutdown was requested, so a handler can
        refuse new work and, for example, close its connection.

        On cancellation: a unit still running after the grace period is
        cancelled by cancelling the task that entered it; the unit ends when
        that task leaves the block. No timeout applies to the unit itself.

        Raises:
            ShuttingDown: on entering, once a shutdown was requested.
        """
        return _InflightUnit(self)

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run *coro* as a background task that the drain waits for.

        The task is owned by a :class:`~aiocleanup.TaskSupervisor`: it is
        referenced until it ends, its failure is logged and reported, and it
        is cancelled if still running after the grace period. The outcome is
        in :attr:`ShutdownResult.tasks`.

        Cancellation and timeouts do not apply: this returns immediately.

        Raises:
            TypeError: if *coro* is not a coroutine object.
            ShuttingDown: once a shutdown was requested (*coro* is closed).
            RuntimeError: if no event loop is running.
        """
        if self._reason is not None and isinstance(coro, Coroutine):
            coro.close()
            raise ShuttingDown(self._reason)
        task = self._supervisor.spawn(coro, name=name)
        task.add_done_callback(self._on_spawned_done)
        return task

    def push(
        self, callback: StepT, *, name: str | None = None, timeout: float | None = None
    ) -> StepT:
        """Register a cleanup step and return *callback* unchanged.

        Steps run after the drain, last registered first, like
        :class:`contextlib.AsyncExitStack`. *callback* takes no arguments; if
        it returns an awaitable (an async function does), the awaitable is
        run as a task and awaited. Every step runs, even when an earlier one
        raised or timed out; failures are logged and collected in
        :attr:`ShutdownResult.step_failures`.

        On timeout: an awaitable still running after *timeout* seconds
        (default: *step_timeout*) is cancelled, given *cancel_timeout*
        seconds to stop, and reported as a :class:`TimeoutError`. A plain
        function cannot be interrupted: keep it short, or make it async and
        use :func:`asyncio.to_thread` for blocking calls.

        Cancellation does not apply at registration; a step's own task is
        cancelled only on timeout.

        Raises:
            TypeError: if *callback* is not callable (for example a coroutine
                object: pass ``conn.close``, not ``conn.close()``) or *name*
                is not a str.
            ValueError: if *timeout* is negative, NaN or infinite.
            ShuttingDown: if the cleanup phase has already begun.
        """
        check_callable(
            callback,
            expected="push() expected a callable that takes no arguments, such as "
            "conn.close (not conn.close())",
        )
        check_name(name, what="name")
        step_timeout = (
            self._step_timeout if timeout is None else check_seconds(timeout, what="timeout")
        )
        if self._steps_started:
            raise ShuttingDown(self._reason or "cleanup began")
        step_name = name if name is not None else _describe(callback)
        self._steps.append(_CleanupStep(callback, step_name, step_timeout))
        return callback

    # The phases.

    async def _shut_down(self) -> ShutdownResult:
        loop = self._require_loop()
        assert self._reason is not None

        # Phase 1: stop accepting new work; the body is the acceptor.
        self._supervisor.close()
        self._stop_body()

        # Phase 2: drain in-flight work, up to the grace period; a second
        # signal ends the wait at once.
        self._draining = True
        drain_deadline = loop.time() + (0.0 if self._forced else self._grace)
        drained = await self._wait_until(lambda: self._idle() or self._forced, drain_deadline)
        drained = drained and self._idle()
        self._draining = False
        self._drain_over = True

        # Phase 3: cancel what remains, and wait up to cancel_timeout for it.
        cut_off = self._count_unfinished_work()
        tasks_report = await self._cancel_remaining(
            cancel_deadline=loop.time() + self._cancel_timeout
        )

        # Phase 4: cleanup steps, last registered first, each bounded.
        self._steps_started = True
        step_failures: list[StepFailure] = []
        for step in reversed(self._steps):
            failure = await self._run_step(step)
            if failure is not None:
                step_failures.append(failure)

        # Phase 5: report.
        if step_failures:
            exit_status = ExitStatus.STEPS_FAILED
        elif cut_off:
            exit_status = ExitStatus.CUT_OFF
        else:
            exit_status = ExitStatus.CLEAN
        self._result = ShutdownResult(
            reason=self._reason,
            forced=self._forced,
            drained=drained,
            cut_off=cut_off,
            tasks=tasks_report,
            steps=tuple(step.name for step in reversed(self._steps)),
            step_failures=tuple(step_failures),
            exit_status=exit_status,
        )
        self._log_result(self._result)
        return self._result

    # Helpers for the phases.

    def _idle(self) -> bool:
        return self._inflight == 0 and len(self._supervisor) == 0 and self._body_done

    def _count_unfinished_work(self) -> int:
        # A task (spawned, or the body) running an in-flight unit counts
        # once, as the unit.
        spawned_outside_units = sum(
            1 for task in self._supervisor._running if task not in self._unit_owners
        )
        body_outside_units = not self._body_done and self._body not in self._unit_owners
        return self._inflight + spawned_outside_units + body_outside_units

    def _stop_body(self) -> None:
        if self._body is None or self._body_done or self._body_watches:
            return
        if self._unit_owners.get(self._body, 0):
            # Let the body finish its unit first; the unit's exit cancels it.
            self._cancel_body_after_unit = True
        else:
            self._cancel_body()

    def _cancel_body(self) -> None:
        # Runs from the loop, never inside the body, so the cancellation
        # lands on the body's current await and not on one in __aexit__.
        if self._body is not None and not self._body_done and not self._body.done():
            self._body.cancel()
            self._body_cancels += 1

    async def _cancel_remaining(self, cancel_deadline: float) -> ShutdownReport:
        loop = self._require_loop()
        for task in list(self._unit_owners):
            if task is not self._body:
                task.cancel()
        self._cancel_body()
        tasks_report = await self._supervisor.shutdown(
            grace=0.0, cancel_timeout=max(0.0, cancel_deadline - loop.time())
        )
        await self._wait_until(lambda: self._inflight == 0 and self._body_done, cancel_deadline)
        return tasks_report

    async def _run_step(self, step: _CleanupStep) -> StepFailure | None:
        loop = self._require_loop()
        try:
            outcome = step.callback()
            if not isinstance(outcome, Awaitable):
                return None
            task: asyncio.Future[object] = asyncio.ensure_future(outcome)
        except Exception as exception:
            return self._step_failed(step, exception)
        try:
            await _wait_for_done(loop, task, step.timeout)
            if not task.done():
                task.cancel()
                await _wait_for_done(loop, task, self._cancel_timeout)
                return self._step_failed(
                    step,
                    TimeoutError(
                        f"cleanup step {step.name!r} did not finish within {step.timeout:g} seconds"
                    ),
                )
        except asyncio.CancelledError:
            task.cancel()  # the shutdown itself is being cancelled
            raise
        if task.cancelled():
            cancelled = asyncio.CancelledError(f"cleanup step {step.name!r} was cancelled")
            return self._step_failed(step, cancelled)
        error = task.exception()
        return None if error is None else self._step_failed(step, error)

    def _step_failed(self, step: _CleanupStep, exception: BaseException) -> StepFailure:
        self._logger.error("cleanup step %r failed", step.name, exc_info=exception)
        return StepFailure(step.name, exception)

    async def _wait_until(self, condition: Callable[[], bool], deadline: float) -> bool:
        """Wait until *condition* holds or the loop clock passes *deadline*."""
        loop = self._require_loop()
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            await _wait_for_done(loop, waiter, remaining)
            self._waiter = None
        return True

    def _wake(self) -> None:
        """Re-check the condition of the current wait."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _on_spawned_done(self, task: asyncio.Task[Any]) -> None:
        if len(self._supervisor) == 0:
            self._wake()

    def _unit_entered(self) -> asyncio.Task[Any] | None:
        if self._reason is not None:
            raise ShuttingDown(self._reason)
        owner = asyncio.current_task()
        self._inflight += 1
        if owner is not None:
            self._unit_owners[owner] = self._unit_owners.get(owner, 0) + 1
        return owner

    def _unit_exited(self, owner: asyncio.Task[Any] | None) -> None:
        self._inflight -= 1
        if owner is not None:
            left = self._unit_owners[owner] - 1
            if left:
                self._unit_owners[owner] = left
            else:
                del self._unit_owners[owner]
                if owner is self._body and self._cancel_body_after_unit:
                    self._cancel_body_after_unit = False
                    self._require_loop().call_soon(self._cancel_body)
        if self._inflight == 0:
            self._wake()

    def _log_result(self, result: ShutdownResult) -> None:
        if result.exit_status is ExitStatus.CLEAN:
            self._logger.info("shutdown complete (%s)", result.reason)
            return
        self._logger.warning(
            "shutdown finished with status %d (%s): %d unit(s) of work cut off, "
            "%d task(s) ignored cancellation, %d cleanup step(s) failed",
            result.exit_status,
            result.exit_status.name,
            result.cut_off,
            len(result.tasks.ignored_cancellation),
            len(result.step_failures),
        )

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(
                "use 'async with GracefulShutdown(...) as shutdown:' before "
                "requesting or waiting for a shutdown"
            )
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "GracefulShutdown methods must be called from the event loop's "
                "thread; use loop.call_soon_threadsafe(shutdown.request)"
            )
        return self._loop

    # Signals.

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._reason is None:
            self.request(f"received {name}")
            self._logger.info("send %s again to skip the drain", name)
        elif self._drain_over:
            self._logger.warning("received %s again: already past the drain", name)
        elif not self._forced:
            self._logger.warning("received %s again: skipping the drain", name)
            self.request(f"received {name} again", force=True)

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._signals:
            return
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                "signal handlers can only be installed in the main thread; "
                "pass signals=() and call request() yourself"
            )
        for signum in self._signals:
            previous = signal.getsignal(signum)
            # asyncio keeps no public record of its own handlers; this is what
            # lets us put back one that was added with the loop.
            previous_loop_handle = getattr(loop, "_signal_handlers", {}).get(signum)
            via_loop = False
            if self._signal_api != "signal":
                try:
                    loop.add_signal_handler(signum, self._on_signal, signum)
                    via_loop = True
                except NotImplementedError:
                    if self._signal_api == "loop":
                        raise
            if not via_loop:
                signal.signal(signum, self._fallback_handler)
            self._signal_restores.append(
                _SignalRestore(signum, previous, previous_loop_handle, via_loop)
            )

    def _fallback_handler(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes, possibly in the middle
        # of the loop's own code: hand over to the loop thread-safely.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_signal, signum)

    def _restore_signal_handlers(self) -> None:
        loop = self._loop
        while self._signal_restores:
            restore = self._signal_restores.pop()
            if restore.via_loop and loop is not None and not loop.is_closed():
                loop.remove_signal_handler(restore.signum)
                handle = restore.previous_loop_handle
                if handle is not None:
                    loop.add_signal_handler(
                        restore.signum,
                        handle._callback,  # type: ignore[attr-defined]
                        *handle._args,
                    )
                    continue
            if restore.previous is not None:
                signal.signal(restore.signum, restore.previous)

    # The async context manager.

    async def __aenter__(self) -> GracefulShutdown:
        if self._entered:
            raise RuntimeError("a GracefulShutdown can be entered only once")
        loop = asyncio.get_running_loop()
        self._entered = True
        self._loop = loop
        self._thread = threading.get_ident()
        self._body = asyncio.current_task()
        self._requested_event = asyncio.Event()
        try:
            self._install_signal_handlers(loop)
        except BaseException:
            self._restore_signal_handlers()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._body_done = True
        self._wake()
        cancelled_by_us = self._uncancel_body()
        cancelled_from_outside = (
            exc_type is not None
            and issubclass(exc_type, asyncio.CancelledError)
            and not cancelled_by_us
        )
        if self._reason is None:
            if exc_type is None:
                self.request("the service body returned")
            else:
                # Cancelled or interrupted from outside: do not linger.
                self.request(
                    f"the service body raised {exc_type.__name__}",
                    force=not issubclass(exc_type, Exception),
                )
        elif cancelled_from_outside:
            self.request(force=True)
        assert self._phases is not None
        try:
            await asyncio.shield(self._phases)
        except asyncio.CancelledError:
            # Cancelled while waiting: skip the drain, let the phases finish
            # within their bounds, then propagate.
            self.request(force=True)
            await asyncio.wait([self._phases])
            raise
        finally:
            self._restore_signal_handlers()
        if exc_type is None:
            return False
        if issubclass(exc_type, ShuttingDown):
            return True
        return issubclass(exc_type, asyncio.CancelledError) and cancelled_by_us

    def _uncancel_body(self) -> bool:
        """Take back the cancellations we sent the body; True if we sent any."""
        if not self._body_cancels:
            return False
        if sys.version_info >= (3, 11) and self._body is not None:
            for _ in range(self._body_cancels):
                self._body.uncancel()
            # Someone else cancelled the body too: let that propagate.
            return self._body.cancelling() == 0
        return True


class _InflightUnit(contextlib.AbstractAsyncContextManager[None]):
    """One unit of work tracked by :meth:`GracefulShutdown.inflight`."""

    __slots__ = ("_owner", "_shutdown")

    def __init__(self, shutdown: GracefulShutdown) -> None:
        self._shutdown = shutdown
        self._owner: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> None:
        self._owner = self._shutdown._unit_entered()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._shutdown._unit_exited(self._owner)


async def _wait_for_done(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], timeout: float
) -> None:
    """Wait until *future* is done or *timeout* seconds passed; never raise.

    Unlike :func:`asyncio.wait_for`, this does not cancel *future* on timeout
    and does not wait for it afterwards, so it is always bounded.
    """
    if future.done() or timeout <= 0:
        return
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(timeout, wake)
    future.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)


def _describe(callback: Callable[..., object]) -> str:
    return str(getattr(callback, "__qualname__", None) or repr(callback))


def run(
    main: Callable[[GracefulShutdown], Awaitable[object]],
    *,
    grace: float = 10.0,
    cancel_timeout: float = 5.0,
    step_timeout: float = 5.0,
    signals: Iterable[int] = DEFAULT_SIGNALS,
) -> ExitStatus:
    """Run a service until it is asked to stop, shut it down, return the status.

    ``run()`` is to services what :func:`asyncio.run` is to scripts::

        async def main(shutdown: GracefulShutdown) -> None:
            shutdown.push(close_database, name="database")
            await serve_forever(shutdown)

        if __name__ == "__main__":
            raise SystemExit(aiocleanup.run(main, grace=10.0))

    It creates an event loop, enters a :class:`GracefulShutdown` with the
    given arguments, awaits ``main(shutdown)`` as the service body and runs
    the shutdown phases when a signal arrives or *main* returns. Then it
    closes the loop in bounded phases: cancel the tasks still pending and
    wait up to *cancel_timeout*, close async generators and the default
    executor, each waited for up to *cancel_timeout*, and close the loop.
    Unlike ``asyncio.run()``, it never waits unbounded for a task that
    ignores cancellation. (Threads still running in the default executor are
    joined by the interpreter at exit; that wait is outside ``run()``.)

    Returns the :class:`ExitStatus` (an ``int``): 0 (``CLEAN``) when
    everything finished, 1 (``STEPS_FAILED``) when a cleanup step raised or
    timed out, 3 (``CUT_OFF``) when in-flight work had to be cancelled.

    On cancellation: a signal is the way to stop it; a second signal skips
    the drain. With ``signals=()``, Ctrl-C raises :class:`KeyboardInterrupt`
    out of ``run()`` after the loop was closed.

    Raises:
        TypeError: if *main* is not an async function taking one argument
            (passing ``main()`` instead of ``main`` is the usual mistake), or
            another argument has the wrong type.
        ValueError: for a bad timeout or signal (see :class:`GracefulShutdown`).
        RuntimeError: if called while an event loop is running in this
            thread, or signals are requested outside the main thread.
        Exception: whatever *main* raised, after the shutdown phases ran.
    """
    check_callable(
        main,
        expected="run() expected an async function that takes the GracefulShutdown, "
        "such as main (not main())",
    )
    graceful = GracefulShutdown(
        grace=grace,
        cancel_timeout=cancel_timeout,
        step_timeout=step_timeout,
        signals=signals,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "run() cannot be called from a running event loop; "
            "use 'async with GracefulShutdown()' there"
        )

    async def service() -> None:
        async with graceful:
            await main(graceful)

    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(service())
    finally:
        try:
            _close_loop(loop, graceful._cancel_timeout)
        finally:
            asyncio.set_event_loop(None)
    assert graceful.exit_status is not None
    return graceful.exit_status


def _close_loop(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    """Close *loop* the way :class:`asyncio.Runner` does, but bounded."""
    try:
        loop.run_until_complete(_finish_loop(loop, timeout))
    finally:
        # Phase 4: close the loop.
        loop.close()


async def _finish_loop(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    # Phase 1: cancel the tasks still pending; wait up to *timeout* for them.
    pending = asyncio.all_tasks(loop) - {asyncio.current_task(loop)}
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
    # Phase 2: close async generators still suspended, up to *timeout*.
    # Phase 3: shut down the default executor, up to *timeout*.
    for closing in (loop.shutdown_asyncgens(), loop.shutdown_default_executor()):
        task = loop.create_task(closing)
        await _wait_for_done(loop, task, timeout)
        if not task.done():
            task.cancel()
