"""Turn SIGINT/SIGTERM into a graceful, bounded shutdown of a service.

:class:`GracefulShutdown` is the service's shutdown coordinator: it turns
signals into a shutdown request, tracks the work in flight, refuses new work
once the service stops accepting, and then runs the phases in order, each
with its own bound:

0. announce: :attr:`~GracefulShutdown.ready` turns false and the
   :meth:`~GracefulShutdown.on_request` hooks run; work is still accepted for
   ``drain_delay`` seconds, so a load balancer can stop routing first;
1. stop accepting: new work is refused, background loops (and a body
   declared ``body="stop"``) are cancelled once outside their in-flight
   units, and the :meth:`~GracefulShutdown.on_stop` hooks start;
2. drain: wait up to ``grace`` seconds for the work to drain: in-flight
   units, jobs, the service body (by default) and what the stop hooks
   return; a second signal ends the wait at once;
3. cancel what remains and wait up to ``cancel_timeout`` seconds for it;
4. run the cleanup steps, last registered first, each bounded by its own
   timeout;
5. report: a :class:`ShutdownResult` whose exit status says whether any work
   was cut off, refused, failed or left running, or a step failed.

:func:`aiocleanup.run` is to services what :func:`asyncio.run` is to scripts.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import enum
import inspect
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Literal, NamedTuple, TypeVar

from ._checks import (
    check_bool,
    check_callable,
    check_choice,
    check_coroutine,
    check_logger,
    check_name,
    check_optional_seconds,
    check_seconds,
    check_signals,
)
from ._errors import ShuttingDown
from ._processes import stop_process
from ._result import ExitStatus, ShutdownResult, StepFailure, Unfinished
from ._signals import SignalApi, SignalHandlers
from ._stacks import where_suspended
from ._waiting import wait_for_any
from ._watchdog import Watchdog
from .tasks import ShutdownReport, TaskSupervisor

__all__ = [
    "ExitStatus",
    "GracefulShutdown",
    "ShutdownPhase",
    "ShutdownResult",
    "ShuttingDown",
    "StepFailure",
    "Unfinished",
]

T = TypeVar("T")
# A cleanup step or hook: a plain function, or one that returns an awaitable.
Step = Callable[[], object]
StepT = TypeVar("StepT", bound=Step)
BodyRole = Literal["drain", "stop"]

DEFAULT_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

# What run() adds to the phases' own bounds for closing the loop (pending
# tasks, async generators, the executor: cancel_timeout each) plus a margin.
_LOOP_CLOSING_PHASES = 3
_DEADLINE_MARGIN = 1.0
# A third signal (not counting one a framework handed on) ends the process.
_SIGNALS_TO_EXIT = 3


class ShutdownPhase(enum.IntEnum):
    """Where a :class:`GracefulShutdown` is; later phases compare greater."""

    #: Not entered yet.
    NOT_STARTED = 0
    #: Serving, accepting work; :attr:`GracefulShutdown.ready` is true.
    RUNNING = 1
    #: A shutdown was requested; work is still accepted for ``drain_delay``.
    REQUESTED = 2
    #: New work is refused; waiting up to ``grace`` for work in flight.
    DRAINING = 3
    #: Cancelling what is left; waiting up to ``cancel_timeout``.
    CANCELLING = 4
    #: Running the cleanup steps.
    CLEANING_UP = 5
    #: The result is ready.
    DONE = 6


class _CleanupStep(NamedTuple):
    callback: Step
    name: str
    timeout: float


class GracefulShutdown:
    """Coordinate a graceful, bounded shutdown of a service.

    ::

        async with GracefulShutdown(grace=10.0) as shutdown:
            shutdown.push(database.close, name="database")
            server = await start_server(shutdown)
            await shutdown.wait()     # then stop accepting and return
            server.close()

    Entering the block installs handlers for *signals*; the first signal
    requests a shutdown (like :meth:`request`), a second one during the
    drain skips straight to cancellation, and, with a *deadline*, a third
    one ends the process at once. Leaving the block requests a shutdown if
    none was requested, runs the phases (see the module docstring), restores
    the previous signal handlers and stores the :class:`ShutdownResult` in
    :attr:`result`.

    Roles are declared, never inferred:

    * units of work to drain: ``async with shutdown.inflight(name=...):``;
    * jobs to drain: ``shutdown.spawn(job())``;
    * background loops to stop at once: ``shutdown.spawn(loop(),
      drain=False)``; such a task is cancelled when the service stops
      accepting, but not in the middle of an in-flight unit: then right
      after it;
    * the service body (the block itself): with ``body="drain"`` (the
      default) it is work to drain: it gets the grace period to return by
      itself, as a body that awaits :meth:`wait` and then closes its server
      does, or one that runs an :class:`asyncio.TaskGroup` or a framework's
      ``serve()`` that drains on its own; with ``body="stop"`` it is an
      acceptor, stopped like a background loop.

    :class:`ShuttingDown` raised in the body ends the block quietly, also
    inside an ``ExceptionGroup`` from a task group; so does the
    ``CancelledError`` this object sent the body.

    On cancellation: if the body is cancelled by something else, the drain is
    skipped (as with a second signal), the remaining phases run within their
    bounds and the ``CancelledError`` propagates. Other exceptions from the
    body propagate after the phases.

    On timeout: nothing raises. Work still running after *grace* is
    cancelled; work still running *cancel_timeout* seconds later is left
    running and reported with where it is suspended; a step still running
    after its timeout is cancelled, given *cancel_timeout* seconds to stop,
    and reported. Without a *deadline* the phases take at most
    *drain_delay* + *grace* + *cancel_timeout* plus, per step, its timeout +
    *cancel_timeout*, as long as nothing blocks the event loop. With one, a
    watchdog thread ends the process *deadline* seconds after the request,
    whatever blocks it (a blocking call in a step, or executor threads that
    ``asyncio.run()`` and the interpreter wait for after the block), and
    logs the report first.

    Args:
        grace: seconds to let work in flight finish once the service stops
            accepting.
        cancel_timeout: seconds to wait for cancelled work to end.
        step_timeout: default timeout of each cleanup step.
        drain_delay: seconds between the request and the stop of accepting,
            while :attr:`ready` is false, so a load balancer stops routing
            new work here first; a second signal skips it.
        deadline: seconds after the request after which the process is
            ended with :func:`os._exit`, the report logged first; ``None``
            (the default here; :func:`aiocleanup.run` always sets one) for
            no such limit.
        body: the role of the block's body: ``"drain"`` or ``"stop"``.
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
            unknown or cannot be caught, or *body* or *signal_api* is not
            one of its choices.
    """

    def __init__(
        self,
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
    ) -> None:
        self._grace = check_seconds(grace, what="grace")
        self._cancel_timeout = check_seconds(cancel_timeout, what="cancel_timeout")
        self._step_timeout = check_seconds(step_timeout, what="step_timeout")
        self._drain_delay = check_seconds(drain_delay, what="drain_delay")
        self._deadline = check_optional_seconds(deadline, what="deadline")
        self._body_role: BodyRole = check_choice(body, ("drain", "stop"), what="body")
        self._logger = check_logger(logger)
        self._signal_handlers = SignalHandlers(
            check_signals(signals),
            check_choice(signal_api, ("auto", "loop", "signal"), what="signal_api"),
            on_signal=self._on_signal,
            on_raw=self._on_raw_signal,
        )
        self._supervisor = TaskSupervisor(
            grace=self._grace, cancel_timeout=self._cancel_timeout, logger=self._logger
        )
        # Registered by the service.
        self._steps: list[_CleanupStep] = []
        self._request_hooks: list[tuple[Step, str]] = []
        self._stop_hooks: list[tuple[Step, str]] = []
        # Set by __aenter__.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._body: asyncio.Task[Any] | None = None
        self._stopping = asyncio.Event()  # the service stopped accepting work
        self._stop_future: asyncio.Future[None] | None = None  # the same moment
        self._forced_event = asyncio.Event()
        self._drained = asyncio.Event()  # no work to drain is running
        self._settled = asyncio.Event()  # no work at all is running
        # The state of the request and the phases.
        self._phase = ShutdownPhase.NOT_STARTED
        self._reason: str | None = None
        self._forced = False
        self._phases: asyncio.Task[ShutdownResult] | None = None
        self._result: ShutdownResult | None = None
        # The work: units, the tasks running them, the body, spawned tasks.
        self._units: dict[_Unit, None] = {}
        self._unit_owners: dict[asyncio.Task[Any], int] = {}
        self._body_done = False
        self._body_cancels = 0
        self._jobs: set[asyncio.Task[Any]] = set()  # spawned with drain=True
        self._stop_hook_tasks: dict[asyncio.Task[Any], str] = {}
        self._to_stop: dict[asyncio.Task[Any], str] = {}  # stopped at once
        self._stop_after_unit: set[asyncio.Task[Any]] = set()
        self._abandoned: set[asyncio.Future[Any]] = set()
        # What did not finish, recorded as it happens.
        self._unfinished: list[Unfinished] = []
        self._cut_owners: set[asyncio.Task[Any]] = set()
        self._hook_failures: list[StepFailure] = []
        # Signals: those received, those a framework may hand on again.
        self._signals_received: list[int] = []
        self._handed_on: dict[int, int] = {}
        self._raw_signals = 0
        # Per signal: how often our Python-level handler ran (raised), how
        # often the loop heard it, and how often the loop heard it while
        # another Python-level handler had it (captured: uvicorn's serve()
        # does that, and raises it again when it is done).
        self._raised: dict[int, int] = {}
        self._heard: dict[int, int] = {}
        self._captured: dict[int, int] = {}
        self._handed_on_count = 0
        # Set by the watchdog when a signal went unanswered: the loop is blocked.
        self._loop_blocked = False
        self._watchdog: Watchdog | None = None
        self._threads_before: set[threading.Thread] = set()
        # run() sets this: the deadline then also covers closing the loop.
        self._covers_loop_closing = False

    # The bounds, fixed at creation.

    @property
    def grace(self) -> float:
        """Seconds the drain waits for work in flight once the service stops accepting."""
        return self._grace

    @property
    def cancel_timeout(self) -> float:
        """Seconds to wait for cancelled work to end.

        It bounds the wait for what the drain left running, for a cleanup
        step cancelled at its timeout, for a process that needed SIGKILL
        and, under :func:`aiocleanup.run`, for each part of closing the loop.
        """
        return self._cancel_timeout

    @property
    def step_timeout(self) -> float:
        """Seconds a cleanup step may run when :meth:`push` is given no *timeout*.

        :meth:`manage_process` waits as long after SIGTERM by default.
        """
        return self._step_timeout

    # Observing the state.

    @property
    def phase(self) -> ShutdownPhase:
        """The current :class:`ShutdownPhase`."""
        return self._phase

    @property
    def requested(self) -> bool:
        """True once a shutdown was requested (by a signal, code or exit)."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why the shutdown was requested, or ``None`` before that."""
        return self._reason

    @property
    def ready(self) -> bool:
        """True while serving, until a shutdown is requested; for a readiness probe."""
        return self._phase is ShutdownPhase.RUNNING

    @property
    def draining(self) -> bool:
        """True while work in flight is being drained (phase 2)."""
        return self._phase is ShutdownPhase.DRAINING

    @property
    def forced(self) -> bool:
        """True once a second signal or ``request(force=True)`` skipped the drain."""
        return self._forced

    @property
    def inflight_count(self) -> int:
        """The number of in-flight units currently running."""
        return len(self._units)

    @property
    def result(self) -> ShutdownResult | None:
        """The result, once the phases finished; ``None`` before that."""
        return self._result

    @property
    def exit_status(self) -> ExitStatus | None:
        """The :class:`ExitStatus` of the finished shutdown, or ``None``."""
        return None if self._result is None else self._result.exit_status

    # Requesting and waiting.

    def request(self, reason: str = "requested", *, force: bool = False) -> None:
        """Request a shutdown; the phases then run in the background.

        Further requests do not start another shutdown. With *force*, the
        drain delay and the drain are skipped (or cut short if under way),
        as a second signal does; once the drain is over, *force* has no
        effect.

        It may be called from any thread: from another thread than the
        event loop's it hands the request over with
        :meth:`~asyncio.loop.call_soon_threadsafe` and returns at once.

        Cancellation and timeouts do not apply: this returns immediately.
        Await :meth:`wait` to wait until the service stops accepting, or
        leave the ``async with`` block to wait for the phases.

        Raises:
            TypeError: if *reason* is not a str or *force* not a bool.
            RuntimeError: if called before entering the ``async with`` block,
                or from another thread once the event loop is closed.
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, got {type(reason).__name__}")
        check_bool(force, what="force")
        loop = self._loop
        if loop is None:
            raise RuntimeError(_NOT_ENTERED)
        if threading.get_ident() != self._thread:
            loop.call_soon_threadsafe(self._request, reason, force)
        else:
            self._request(reason, force)

    async def wait(self) -> str:
        """Wait until the service stops accepting work; return the reason.

        That is at the request, or *drain_delay* seconds later. This only
        observes the shutdown: awaiting it does not change the body's role.

        On cancellation: ``CancelledError`` propagates; nothing else happens.
        There is no timeout; wrap it in :func:`asyncio.wait_for` if you need
        one.

        Raises:
            RuntimeError: if called before entering the ``async with`` block.
        """
        self._require_loop()
        await self._stopping.wait()
        assert self._reason is not None
        return self._reason

    async def unless_stopping(self, awaitable: Awaitable[T]) -> T:
        """Await *awaitable*, unless the service stops accepting work first.

        For the waits of an acceptor or a worker loop: a queue's ``get()``,
        a sleep between two runs of a periodic job::

            job = await shutdown.unless_stopping(queue.get())

        If *awaitable* finishes first, its result is returned (or its
        exception raised). If the service stops accepting first,
        *awaitable* is cancelled and given *cancel_timeout* seconds to end;
        if it still produced a result (a ``get()`` that had already taken
        an item), that result is returned, so nothing taken is lost;
        otherwise :class:`ShuttingDown` is raised.

        Inside an :class:`asyncio.TaskGroup`, catch the
        :class:`ShuttingDown` before it leaves the group's block: an
        exception there makes the group cancel its tasks.

        On cancellation: *awaitable* is cancelled too and ``CancelledError``
        propagates.

        On timeout: none of its own; wrap it, or *awaitable*, in
        :func:`asyncio.timeout` for one.

        Raises:
            ShuttingDown: once the service stops accepting work, at the call
                or while waiting (a coroutine passed after that is closed).
            TypeError: if *awaitable* cannot be awaited.
            RuntimeError: if called before entering the ``async with`` block.
        """
        if not inspect.isawaitable(awaitable):
            raise TypeError(
                "unless_stopping() expected an awaitable, such as queue.get(), "
                f"got {type(awaitable).__name__}"
            )
        try:
            self._require_loop()
            if self._stopping.is_set():
                assert self._reason is not None
                raise ShuttingDown(self._reason)
        except BaseException:
            if isinstance(awaitable, Coroutine):
                awaitable.close()
            raise
        assert self._stop_future is not None
        inner = asyncio.ensure_future(awaitable)
        try:
            await asyncio.wait((inner, self._stop_future), return_when=asyncio.FIRST_COMPLETED)
            if not inner.done():
                inner.cancel()
                await asyncio.wait((inner,), timeout=self._cancel_timeout)
        except asyncio.CancelledError:
            inner.cancel()
            raise
        if inner.done() and not inner.cancelled():
            return inner.result()
        if not inner.done():
            # Keep a reference, so it is not destroyed while still pending.
            self._abandoned.add(inner)
            inner.add_done_callback(self._abandoned.discard)
        assert self._reason is not None
        raise ShuttingDown(self._reason)

    # Declaring the work.

    def inflight(self, *, name: str | None = None) -> contextlib.AbstractAsyncContextManager[None]:
        """Track one unit of work: ``async with shutdown.inflight(name="job 7"): ...``.

        The drain waits for every unit to leave its block. Entering raises
        :class:`ShuttingDown` once the service stops accepting work, so a
        handler can refuse new work and, for example, answer 503. *name*
        names the unit in the report; it defaults to the name of the task
        that runs it. Enter the unit before taking the work (a job from a
        queue), so that the refusal never strands work already taken.

        On cancellation: a unit still running after the grace period is
        cancelled by cancelling the task that entered it; the unit ends when
        that task leaves the block, and is reported as cut off. No timeout
        applies to the unit itself.

        Raises:
            ShuttingDown: on entering, once the service stopped accepting.
            TypeError: if *name* is not a str.
            RuntimeError: on entering, before the ``async with`` block.
        """
        return _Unit(self, check_name(name, what="name"))

    def spawn(
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None, drain: bool = True
    ) -> asyncio.Task[T]:
        """Run *coro* as a supervised task and return the task.

        The task is owned by a :class:`~aiocleanup.TaskSupervisor`: it is
        referenced until it ends, and its failure is logged and reported.
        *drain* declares its role:

        * ``True`` (the default): a job, work to drain. The shutdown waits
          for it up to the grace period, then cancels it.
        * ``False``: a background loop (a heartbeat, a poller, a worker loop
          whose units are ``inflight()`` blocks). It is cancelled as soon as
          the service stops accepting, or right after its current in-flight
          unit; ending that way, or by :class:`ShuttingDown`, is its normal
          end.

        The outcome is in :attr:`ShutdownResult.tasks`; a job cut off,
        refused or failed, or any task that fails or ignores cancellation,
        is in :attr:`ShutdownResult.unfinished`.

        Cancellation and timeouts do not apply: this returns immediately.

        Raises:
            TypeError: if *coro* is not a coroutine object, *name* not a str
                or *drain* not a bool.
            ShuttingDown: once the service stopped accepting (*coro* is
                closed).
            RuntimeError: if called before entering the ``async with`` block.
        """
        check_coroutine(coro, caller="spawn()")
        try:
            check_bool(drain, what="drain")
            self._require_loop()
            self._refuse_once_stopping()
        except BaseException:
            coro.close()
            raise
        task = self._supervisor.spawn(coro, name=name, drain=drain)
        if drain:
            self._jobs.add(task)
        else:
            self._to_stop[task] = f"background task {task.get_name()!r}"
        task.add_done_callback(self._on_spawned_done)
        self._work_changed()
        return task

    def on_request(self, callback: StepT, *, name: str | None = None) -> StepT:
        """Call *callback* when a shutdown is requested; return it unchanged.

        The hook for readiness: mark the service not ready, deregister it
        from service discovery. Hooks run first, in registration order,
        before *drain_delay*. *callback* takes no arguments and must not
        block; an exception is logged and reported as a failed step.

        Cancellation and timeouts do not apply.

        Raises:
            TypeError: if *callback* is not callable or *name* not a str.
            ShuttingDown: if a shutdown was already requested.
        """
        check_callable(callback, expected="on_request() expected a callable without arguments")
        check_name(name, what="name")
        if self._reason is not None:
            raise ShuttingDown(self._reason)
        self._request_hooks.append((callback, name or _describe(callback)))
        return callback

    def on_stop(self, callback: StepT, *, name: str | None = None) -> StepT:
        """Call *callback* when the service stops accepting; return it unchanged.

        This is how a framework's own drain joins the one drain timer: for
        example ``lambda: setattr(server, "should_exit", True)`` for a
        uvicorn server whose ``serve()`` was spawned as a job, or
        ``runner.cleanup`` for aiohttp. Hooks run in registration order. If
        *callback* returns an awaitable, it runs as a task that is work to
        drain.

        On timeout: the awaitable is cancelled when the grace period ends,
        and reported as cut off. An exception is logged and reported as
        failed.

        Cancellation does not apply at registration.

        Raises:
            TypeError: if *callback* is not callable or *name* not a str.
            ShuttingDown: if the service already stopped accepting.
        """
        check_callable(callback, expected="on_stop() expected a callable without arguments")
        check_name(name, what="name")
        self._refuse_once_stopping()
        self._stop_hooks.append((callback, name or _describe(callback)))
        return callback

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
        function cannot be interrupted: one that returns after its timeout
        is reported as a :class:`TimeoutError` too, and a *deadline* ends a
        process it blocks for too long. Keep it short, or make it async and
        give its blocking call a timeout of its own.

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
        if self._phase >= ShutdownPhase.CLEANING_UP:
            raise ShuttingDown(self._reason or "cleanup began")
        self._steps.append(_CleanupStep(callback, name or _describe(callback), step_timeout))
        return callback

    def manage_process(
        self,
        process: asyncio.subprocess.Process,
        *,
        name: str | None = None,
        timeout: float | None = None,
    ) -> asyncio.subprocess.Process:
        """Stop *process* as a cleanup step; return it unchanged.

        The step sends SIGTERM to the process's process group if the process
        leads one (start it with ``start_new_session=True`` so that its own
        children get the signal too), otherwise to the process; waits up to
        *timeout* seconds (default: *step_timeout*) for the group to be
        gone; then sends SIGKILL and waits up to *cancel_timeout*. On
        Windows it uses ``terminate()`` and ``kill()``.

        On timeout: a process that had to be killed is reported as a failed
        step (a :class:`TimeoutError`).

        Cancellation does not apply at registration.

        Raises:
            TypeError: if *process* is not an
                :class:`asyncio.subprocess.Process` or *name* not a str.
            ValueError: if *timeout* is negative, NaN or infinite.
            ShuttingDown: if the cleanup phase has already begun.
        """
        if not isinstance(process, asyncio.subprocess.Process):
            raise TypeError(
                "manage_process() expected an asyncio.subprocess.Process, such as the "
                f"result of asyncio.create_subprocess_exec(), got {type(process).__name__}"
            )
        check_name(name, what="name")
        term_timeout = (
            self._step_timeout if timeout is None else check_seconds(timeout, what="timeout")
        )
        step_name = name or f"process {process.pid}"

        async def terminate() -> None:
            await stop_process(process, step_name, term_timeout, self._cancel_timeout)

        # The step's own timeout covers SIGTERM, SIGKILL and a margin.
        self.push(terminate, name=step_name, timeout=term_timeout + 2 * self._cancel_timeout)
        return process

    # The phases, in order.

    async def _shut_down(self) -> ShutdownResult:
        # Phase 0: not ready any more (the request ran the hooks); drain_delay.
        await self._delay(self._drain_delay)
        # Phase 1: stop accepting (at the request itself, without a delay).
        self._stop_accepting()
        # Phase 2: drain what is in flight, up to grace; a second signal ends it.
        drained = await self._drain(grace=self._grace)
        # Phase 3: cancel what remains and wait up to cancel_timeout for it.
        tasks_report = await self._cancel_remaining(cancel_timeout=self._cancel_timeout)
        # Phase 4: cleanup steps, last registered first, each bounded.
        step_failures = await self._run_steps()
        # Phase 5: report.
        return self._finish(drained, tasks_report, step_failures)

    async def _delay(self, delay: float) -> None:
        if self._phase is ShutdownPhase.REQUESTED and delay and not self._forced:
            self._logger.info("accepting work for %g more second(s) (drain_delay)", delay)
            await wait_for_any((self._forced_event,), delay)

    def _stop_accepting(self) -> None:
        if self._phase >= ShutdownPhase.DRAINING:
            return
        self._phase = ShutdownPhase.DRAINING
        self._supervisor.close()
        self._stopping.set()
        assert self._stop_future is not None
        self._stop_future.set_result(None)
        loop = self._require_loop()
        for task in list(self._to_stop):
            if self._unit_owners.get(task):
                self._stop_after_unit.add(task)  # its unit's exit stops it
            else:
                # From the loop, so the cancellation lands on the task's own
                # await even when the task itself requested the shutdown.
                loop.call_soon(self._stop, task)
        for callback, name in self._stop_hooks:
            self._start_stop_hook(callback, name)
        self._work_changed()

    async def _drain(self, grace: float) -> bool:
        if not self._forced:
            await wait_for_any((self._drained, self._forced_event), grace)
        return self._drained.is_set()

    async def _cancel_remaining(self, cancel_timeout: float) -> ShutdownReport:
        loop = self._require_loop()
        self._phase = ShutdownPhase.CANCELLING
        cancel_deadline = loop.time() + cancel_timeout
        body = self._body if self._body_running() else None
        # A drain body still running is cut off (as its unit, if it runs one).
        body_cut = (
            body is not None and self._body_role == "drain" and not self._unit_owners.get(body)
        )
        running = {*self._unit_owners, *self._stop_hook_tasks, *self._to_stop}
        if body is not None:
            running.add(body)
        for task in running:
            self._stop(task)
        tasks_report = await self._supervisor.shutdown(
            grace=0.0, cancel_timeout=max(0.0, cancel_deadline - loop.time())
        )
        await wait_for_any((self._settled,), cancel_deadline - loop.time())
        self._record_left_running(body_cut)
        return tasks_report

    async def _run_steps(self) -> list[StepFailure]:
        self._phase = ShutdownPhase.CLEANING_UP
        if self._watchdog is not None and self._deadline is None:
            self._watchdog.extend(self._seconds_left_to_plan())
        failures = list(self._hook_failures)
        for step in reversed(self._steps):
            failure = await self._run_step(step)
            if failure is not None:
                failures.append(failure)
        return failures

    def _finish(
        self, drained: bool, tasks_report: ShutdownReport, step_failures: list[StepFailure]
    ) -> ShutdownResult:
        assert self._reason is not None
        self._result = ShutdownResult(
            reason=self._reason,
            forced=self._forced,
            drained=drained,
            unfinished=tuple(self._unfinished),
            tasks=tasks_report,
            steps=tuple(step.name for step in reversed(self._steps)),
            step_failures=tuple(step_failures),
        )
        self._phase = ShutdownPhase.DONE
        self._log_result(self._result)
        return self._result

    # Helpers for the phases.

    def _request(self, reason: str, force: bool) -> None:
        loop = self._require_loop()
        if self._reason is None:
            self._reason = reason
            self._phase = ShutdownPhase.REQUESTED
            self._logger.info("shutdown requested: %s", reason)
            if self._watchdog is not None:
                self._watchdog.arm(self._planned_seconds())
            for callback, name in self._request_hooks:
                try:
                    callback()
                except Exception as exception:
                    self._hook_failed(f"on_request {name}", exception)
            if not self._drain_delay:
                self._stop_accepting()
            self._phases = loop.create_task(self._shut_down(), name="aiocleanup graceful shutdown")
        if force and not self._forced and self._phase <= ShutdownPhase.DRAINING:
            self._forced = True
            self._forced_event.set()

    def _refuse_once_stopping(self) -> None:
        if self._phase >= ShutdownPhase.DRAINING:
            assert self._reason is not None
            raise ShuttingDown(self._reason)

    def _stop(self, task: asyncio.Task[Any]) -> None:
        """Cancel *task*; counted for the body, so it can be taken back."""
        if task.done():
            return
        if task is self._body:
            if self._body_done:
                return
            self._body_cancels += 1
        task.cancel()

    def _start_stop_hook(self, callback: Step, name: str) -> None:
        try:
            outcome = callback()
            if inspect.isawaitable(outcome):
                task = asyncio.ensure_future(_awaited(outcome))
                self._stop_hook_tasks[task] = name
                task.add_done_callback(self._on_stop_hook_done)
        except Exception as exception:
            self._record("stop hook", name, "failed", repr(exception))
            self._logger.error("stop hook %r failed", name, exc_info=exception)

    def _on_stop_hook_done(self, task: asyncio.Task[Any]) -> None:
        name = self._stop_hook_tasks.pop(task)
        if task.cancelled():
            self._record("stop hook", name, "cut off")
        elif task.exception() is not None:
            exception = task.exception()
            self._record("stop hook", name, "failed", repr(exception))
            self._logger.error("stop hook %r failed", name, exc_info=exception)
        self._work_changed()

    def _on_spawned_done(self, task: asyncio.Task[Any]) -> None:
        is_job = task in self._jobs
        self._jobs.discard(task)
        self._to_stop.pop(task, None)
        self._stop_after_unit.discard(task)
        kind = "job" if is_job else "background task"
        if task.cancelled():
            if is_job and self._reason is not None and task not in self._cut_owners:
                self._record(kind, task.get_name(), "cut off")
        elif isinstance(task.exception(), ShuttingDown):
            if is_job:
                self._record(kind, task.get_name(), "refused")
        elif task.exception() is not None:
            self._record(kind, task.get_name(), "failed", repr(task.exception()))
        self._work_changed()

    def _record_left_running(self, body_cut: bool) -> None:
        for unit in self._units:
            where = "" if unit.owner is None else where_suspended(unit.owner)
            self._record("unit", unit.name or "unit", "left running", where)
        owners = self._unit_owners
        body = self._body if self._body_running() else None
        if body is not None and not owners.get(body):
            self._record("service body", "service body", "left running", where_suspended(body))
        elif body_cut:
            self._record("service body", "service body", "cut off")
        for task, name in self._stop_hook_tasks.items():
            self._record("stop hook", name, "left running", where_suspended(task))
        for task in list(self._jobs) + list(self._to_stop):
            if not owners.get(task) and task is not self._body:
                kind = "job" if task in self._jobs else "background task"
                self._record(kind, task.get_name(), "left running", where_suspended(task))

    def _record(self, kind: str, name: str, outcome: str, detail: str = "") -> None:
        self._unfinished.append(Unfinished(name, kind, outcome, detail))

    def _body_running(self) -> bool:
        return self._body is not None and not self._body_done and not self._body.done()

    def _drain_count(self) -> int:
        body = self._body_role == "drain" and self._body_running()
        return len(self._units) + len(self._jobs) + len(self._stop_hook_tasks) + body

    def _work_changed(self) -> None:
        """Update the two events the phases wait for."""
        if self._drain_count():
            self._drained.clear()
            self._settled.clear()
            return
        self._drained.set()
        # The body, in the stop role, is among these until it ends.
        if any(not task.done() for task in self._to_stop):
            self._settled.clear()
        else:
            self._settled.set()

    async def _run_step(self, step: _CleanupStep) -> StepFailure | None:
        started = time.monotonic()
        try:
            outcome = step.callback()
        except Exception as exception:
            return self._step_failed(step.name, exception)
        if not inspect.isawaitable(outcome):
            elapsed = time.monotonic() - started
            if elapsed <= step.timeout:
                return None
            return self._step_failed(
                step.name,
                TimeoutError(
                    f"cleanup step {step.name!r} blocked the event loop for {elapsed:.1f} "
                    f"seconds, more than its timeout of {step.timeout:g} seconds; a plain "
                    "function cannot be interrupted: give its blocking call a timeout"
                ),
            )
        task: asyncio.Future[object] = asyncio.ensure_future(outcome)
        try:
            await asyncio.wait((task,), timeout=step.timeout)
            if not task.done():
                task.cancel()
                await asyncio.wait((task,), timeout=self._cancel_timeout)
                return self._step_failed(
                    step.name,
                    TimeoutError(
                        f"cleanup step {step.name!r} did not finish within {step.timeout:g} seconds"
                    ),
                )
        except asyncio.CancelledError:
            task.cancel()  # the shutdown itself is being cancelled
            raise
        if task.cancelled():
            cancelled = asyncio.CancelledError(f"cleanup step {step.name!r} was cancelled")
            return self._step_failed(step.name, cancelled)
        error = task.exception()
        return None if error is None else self._step_failed(step.name, error)

    def _step_failed(self, name: str, exception: BaseException) -> StepFailure:
        self._logger.error("cleanup step %r failed", name, exc_info=exception)
        return StepFailure(name, exception)

    def _hook_failed(self, name: str, exception: BaseException) -> None:
        self._logger.error("%s failed", name, exc_info=exception)
        self._hook_failures.append(StepFailure(name, exception))

    def _log_result(self, result: ShutdownResult) -> None:
        if result.exit_status is ExitStatus.CLEAN:
            self._logger.info("shutdown complete (%s)", result.reason)
            return
        outcomes = [item.outcome for item in result.unfinished]
        extra = "".join(
            f", {outcomes.count(outcome)} {what}"
            for outcome, what in (("refused", "job(s) refused"), ("failed", "failure(s)"))
            if outcome in outcomes
        )
        self._logger.warning(
            "shutdown finished with status %d (%s): %d unit(s) of work cut off, "
            "%d task(s) ignored cancellation, %d cleanup step(s) failed%s",
            result.exit_status,
            result.exit_status.name,
            result.cut_off,
            len(result.tasks.ignored_cancellation),
            len(result.step_failures),
            extra,
        )
        for item in result.unfinished:
            if item.outcome == "left running":
                self._logger.warning(
                    "%s %r ignored cancellation and is still running:\n%s",
                    item.kind,
                    item.name,
                    item.detail,
                )

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(_NOT_ENTERED)
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "GracefulShutdown methods must be called from the event loop's "
                "thread; request() is the one that may be called from any thread"
            )
        return self._loop

    # In-flight units.

    def _unit_entered(self, unit: _Unit) -> None:
        self._require_loop()
        self._refuse_once_stopping()
        owner = asyncio.current_task()
        unit.owner = owner
        if unit.name is None:
            unit.name = owner.get_name() if owner is not None else "unit"
        self._units[unit] = None
        if owner is not None:
            self._unit_owners[owner] = self._unit_owners.get(owner, 0) + 1
        self._work_changed()

    def _unit_exited(self, unit: _Unit, exc_type: type[BaseException] | None) -> None:
        del self._units[unit]
        owner = unit.owner
        cut_off = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        if cut_off and self._phase >= ShutdownPhase.DRAINING:
            assert unit.name is not None
            self._record("unit", unit.name, "cut off")
            if owner is not None:
                self._cut_owners.add(owner)
        if owner is not None:
            left = self._unit_owners[owner] - 1
            if left:
                self._unit_owners[owner] = left
            else:
                del self._unit_owners[owner]
                if owner in self._stop_after_unit:
                    self._stop_after_unit.discard(owner)
                    # From the loop, so the cancellation lands on the task's
                    # next await, not on one in this __aexit__.
                    self._require_loop().call_soon(self._stop, owner)
        self._work_changed()

    # Signals and the deadline.

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        self._loop_blocked = False
        self._heard[signum] = self._heard.get(signum, 0) + 1
        if self._heard[signum] > self._raised.get(signum, 0):
            # Our Python-level handler runs before the loop hears a signal;
            # it did not run for this one: another handler has it.
            self._captured[signum] = self._captured.get(signum, 0) + 1
        if self._handed_on.get(signum):
            self._handed_on[signum] -= 1
            self._handed_on_count += 1
            self._logger.info(
                "received %s again after the service body returned by itself: taken as "
                "handed on by the framework it ran, not as a second signal",
                name,
            )
            return
        first = not self._signals_received
        self._signals_received.append(signum)
        if self._reason is None:
            self.request(f"received {name}")
            self._logger.info("send %s again to skip the drain", name)
        elif self._phase >= ShutdownPhase.CANCELLING:
            self._logger.warning("received %s: already past the drain", name)
        elif first:
            # Only a repeated signal skips the drain.
            self._logger.info(
                "received %s: the shutdown is under way (%s); send it again to skip the drain",
                name,
                self._reason,
            )
        elif not self._forced:
            self._logger.warning("received %s again: skipping the drain", name)
            self.request(f"received {name} again", force=True)
            if self._watchdog is not None:
                self._logger.warning("send %s a third time to end the process at once", name)

    def _on_raw_signal(self, signum: int) -> None:
        # In the signal handler itself: it runs even when the loop is blocked.
        self._raw_signals += 1
        self._raised[signum] = self._raised.get(signum, 0) + 1
        watchdog = self._watchdog
        if watchdog is None:
            return
        name = signal.Signals(signum).name
        if self._loop_blocked:
            watchdog.expire_now(f"received {name} again while the event loop is blocked")
        elif self._raw_signals - self._handed_on_count >= _SIGNALS_TO_EXIT:
            watchdog.expire_now(f"received {name} a third time")
        else:
            watchdog.signal_arrived()

    def _unanswered_signal(self) -> str | None:
        """Runs in the watchdog's thread: a signal the loop has not answered, if any."""
        waiting = [s for s, raised in self._raised.items() if raised > self._heard.get(s, 0)]
        frame = sys._current_frames().get(self._thread) if self._thread is not None else None
        if not waiting or frame is None:
            return None
        self._loop_blocked = True
        name = signal.Signals(waiting[-1]).name
        return "\n".join(
            [
                f"received {name}, but the event loop has not answered it for a second; "
                "its thread is blocked at (most recent call last):",
                *(line.rstrip() for line in traceback.format_stack(frame)),
                f"send {name} again to end the process at once",
            ]
        )

    def _planned_seconds(self) -> float:
        """The deadline, in seconds from the request."""
        if self._deadline is not None:
            return self._deadline
        return self._drain_delay + self._grace + self._cancel_timeout + self._seconds_left_to_plan()

    def _seconds_left_to_plan(self) -> float:
        steps = sum(step.timeout + self._cancel_timeout for step in self._steps)
        closing = _LOOP_CLOSING_PHASES * self._cancel_timeout if self._covers_loop_closing else 0.0
        return steps + closing + _DEADLINE_MARGIN

    def _describe_deadline(self, reason: str) -> tuple[int, str]:
        """Runs in the watchdog's thread: the status and report to exit with."""
        result = self._result
        if result is not None:
            status = ExitStatus.CUT_OFF if result.exit_status is ExitStatus.CLEAN else result.status
        elif self._phase is ShutdownPhase.CLEANING_UP:
            status = ExitStatus.STEPS_FAILED
        else:
            status = ExitStatus.CUT_OFF
        lines = [
            f"{reason} during the phase {self._phase.name}: ending the process "
            f"with status {int(status)} ({status.name})"
        ]
        if result is not None:
            lines.append(result.report)
        frames = sys._current_frames()
        if self._thread in frames and self._phase is not ShutdownPhase.DONE:
            lines.append("the event loop's thread is at (most recent call last):")
            lines.extend(line.rstrip() for line in traceback.format_stack(frames[self._thread]))
        for thread in _threads_holding_up_exit():
            lines.append(f"thread {thread.name!r} is still running at (most recent call last):")
            frame = frames.get(thread.ident) if thread.ident is not None else None
            if frame is not None:
                lines.extend(line.rstrip() for line in traceback.format_stack(frame))
        return int(status), "\n".join(lines)

    def _release_watchdog(self) -> None:
        """Stop the watchdog, unless threads would still hold up the exit."""
        watchdog = self._watchdog
        if watchdog is None or not watchdog.armed:
            return
        # Only threads started while serving: a test run has threads of its own.
        holding = [t for t in _threads_holding_up_exit() if t not in self._threads_before]
        if not holding:
            watchdog.stop()
            return
        self._logger.warning(
            "%d thread(s) still running (%s) will hold up the exit; the process "
            "ends at the deadline at the latest",
            len(holding),
            ", ".join(repr(thread.name) for thread in holding),
        )
        watchdog.guard(holding)

    # The async context manager.

    async def __aenter__(self) -> GracefulShutdown:
        if self._phase is not ShutdownPhase.NOT_STARTED:
            raise RuntimeError("a GracefulShutdown can be entered only once")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._thread = threading.get_ident()
        self._body = asyncio.current_task()
        self._stop_future = loop.create_future()
        self._threads_before = set(threading.enumerate())
        if self._deadline is not None or self._covers_loop_closing:
            self._watchdog = Watchdog(
                self._describe_deadline, self._unanswered_signal, self._logger
            )
            # Started while serving, not when a signal arrives: starting a
            # thread then would slow the shutdown down on a busy machine.
            self._watchdog.start()
        self._signal_handlers.install(loop)
        self._phase = ShutdownPhase.RUNNING
        if self._body is not None and self._body_role == "stop":
            self._to_stop[self._body] = "service body"
        self._work_changed()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._body_done = True
        if self._body is not None:
            self._to_stop.pop(self._body, None)
            self._stop_after_unit.discard(self._body)
        self._work_changed()
        cancelled_by_us = self._uncancel_body()
        quiet = exc is None or _only_shutting_down(exc)
        cancelled = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        if quiet and self._signals_received and not cancelled_by_us:
            # A framework run by the body may capture a signal with a handler
            # of its own and raise it again once its drain is done (uvicorn's
            # serve() does): that one is not a second signal. Any other
            # signal, even one sent just before the body returned, is.
            self._handed_on = dict(self._captured)
        if cancelled and not cancelled_by_us:
            self._record("service body", "service body", "cut off")
        elif not quiet and not cancelled:
            self._record("service body", "service body", "failed", repr(exc))
        self._request_on_exit(exc_type, quiet, cancelled and not cancelled_by_us)
        assert self._phases is not None
        try:
            await asyncio.shield(self._phases)
        except asyncio.CancelledError:
            # Cancelled while waiting: skip the drain, let the phases finish
            # within their bounds, then propagate.
            self.request(force=True)
            await asyncio.wait((self._phases,))
            raise
        finally:
            # Under run(), the handlers stay until the loop is closed: a
            # signal while it closes must not reach the previous handler.
            if not self._covers_loop_closing:
                self._signal_handlers.restore()
                self._release_watchdog()
        if exc_type is None:
            return False
        return quiet or (cancelled and cancelled_by_us)

    def _request_on_exit(
        self, exc_type: type[BaseException] | None, quiet: bool, cancelled_from_outside: bool
    ) -> None:
        if self._reason is None:
            if exc_type is None or quiet:
                self.request("the service body returned")
            else:
                # Cancelled or interrupted from outside: do not linger.
                self.request(
                    f"the service body raised {exc_type.__name__}",
                    force=not issubclass(exc_type, Exception),
                )
        elif cancelled_from_outside:
            self.request(force=True)

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


class _Unit(contextlib.AbstractAsyncContextManager[None]):
    """One unit of work tracked by :meth:`GracefulShutdown.inflight`."""

    __slots__ = ("name", "owner", "shutdown")

    def __init__(self, shutdown: GracefulShutdown, name: str | None) -> None:
        self.shutdown = shutdown
        self.name = name
        self.owner: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> None:
        self.shutdown._unit_entered(self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown._unit_exited(self, exc_type)


_NOT_ENTERED = (
    "use 'async with GracefulShutdown(...) as shutdown:' (or aiocleanup.run()) "
    "before requesting, waiting or declaring work"
)


async def _awaited(awaitable: Awaitable[T]) -> T:
    """Await *awaitable* in a task of its own (ensure_future of a future is no task)."""
    return await awaitable


def _only_shutting_down(exc: BaseException) -> bool:
    """True for ShuttingDown, or an exception group holding nothing else."""
    if isinstance(exc, ShuttingDown):
        return True
    group = getattr(builtins, "BaseExceptionGroup", None)
    if group is not None and isinstance(exc, group):
        return all(_only_shutting_down(inner) for inner in exc.exceptions)
    return False


def _threads_holding_up_exit() -> list[threading.Thread]:
    """Threads the interpreter waits for at exit (executor workers among them)."""
    current = threading.current_thread()
    return [
        thread
        for thread in threading.enumerate()
        if not thread.daemon
        and thread is not threading.main_thread()
        and thread is not current
        and thread.is_alive()
    ]


def _describe(callback: Callable[..., object]) -> str:
    return str(getattr(callback, "__qualname__", None) or repr(callback))


def __getattr__(name: str) -> Any:
    # run() lives in aiocleanup._runner; this keeps aiocleanup.shutdown.run.
    if name == "run":
        from ._runner import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
