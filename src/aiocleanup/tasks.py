"""Own background tasks, report their failures and shut them down in phases.

``asyncio.create_task`` keeps only a weak reference to the task, logs a
failure only when the task is garbage collected ("Task exception was never
retrieved") and leaves shutting down to you. :class:`TaskSupervisor` keeps a
strong reference to every task it spawns, logs each failure once, as it
happens, and shuts down in bounded phases.

When to use which:

* :class:`asyncio.TaskGroup` (Python 3.11+) is for work that succeeds or fails
  together: the first failure cancels the siblings and the group raises an
  ``ExceptionGroup``. Use it for the parts of one request.
* :class:`TaskSupervisor` is for independent background work: one failure is
  logged and reported, the other tasks keep running. Use it for per-connection
  handlers, periodic jobs and fire-and-forget work in a service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

from ._checks import check_name, check_seconds

__all__ = ["ShutdownReport", "SupervisorClosedError", "TaskFailure", "TaskSupervisor"]

T = TypeVar("T")

_default_logger = logging.getLogger("aiocleanup")


class SupervisorClosedError(RuntimeError):
    """Raised by :meth:`TaskSupervisor.spawn` once shutdown has begun."""


class TaskFailure(NamedTuple):
    """A supervised task that raised: its name and the exception."""

    name: str
    exception: BaseException


class ShutdownReport(NamedTuple):
    """What happened to the supervised tasks.

    Attributes:
        completed: names of tasks that returned normally after shutdown began.
        failed: every task that raised, at any time, with its exception.
        cancelled: every task that ended cancelled, at any time.
        ignored_cancellation: names of tasks still running when the
            ``cancel_timeout`` ran out. The supervisor keeps its reference to
            them, so they are not garbage collected mid-flight.
        completed_before_shutdown: how many tasks returned normally before
            shutdown began (counted, not named, so a long-lived supervisor
            does not grow).
    """

    completed: tuple[str, ...]
    failed: tuple[TaskFailure, ...]
    cancelled: tuple[str, ...]
    ignored_cancellation: tuple[str, ...]
    completed_before_shutdown: int = 0

    @property
    def clean(self) -> bool:
        """True when no task failed, was cancelled or ignored cancellation."""
        return not (self.failed or self.cancelled or self.ignored_cancellation)


class TaskSupervisor:
    """Own background tasks and shut them down in bounded phases.

    ::

        async with TaskSupervisor(grace=5.0, cancel_timeout=2.0) as supervisor:
            supervisor.spawn(heartbeat(), name="heartbeat")
            await serve(supervisor)
        print(supervisor.report)

    :meth:`spawn` keeps a strong reference to each task until it ends. When a
    task raises, the exception is logged once on the ``"aiocleanup"`` logger
    and kept for the report; the other tasks keep running (unlike
    :class:`asyncio.TaskGroup`, which cancels them).

    Leaving the ``async with`` block calls :meth:`shutdown` with the *grace*
    and *cancel_timeout* given here; if the block is left by cancellation or
    another ``BaseException`` that is not an ``Exception``, the grace period is
    skipped and the tasks are cancelled at once. The block's exception, if
    any, propagates afterwards; task failures never raise out of the block.

    On timeout: nothing raises. Tasks still running after the grace period
    are cancelled; tasks still running *cancel_timeout* seconds later are
    reported as ignoring cancellation and left running.

    On cancellation: see above for the block, and :meth:`shutdown` for a
    cancelled shutdown.

    Args:
        grace: seconds :meth:`shutdown` lets running tasks finish before
            cancelling them.
        cancel_timeout: seconds :meth:`shutdown` waits for cancelled tasks to
            end.
        logger: where failures are logged; defaults to ``"aiocleanup"``.

    Raises:
        TypeError: if a timeout is not a number or *logger* is not a
            :class:`logging.Logger`.
        ValueError: if a timeout is negative, NaN or infinite.
    """

    def __init__(
        self,
        *,
        grace: float = 10.0,
        cancel_timeout: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self._grace = check_seconds(grace, what="grace")
        self._cancel_timeout = check_seconds(cancel_timeout, what="cancel_timeout")
        if logger is not None and not isinstance(logger, logging.Logger):
            raise TypeError(f"logger must be a logging.Logger or None, got {type(logger).__name__}")
        self._logger = logger if logger is not None else _default_logger
        # A dict, not a set: cancelling in spawn order keeps memory access
        # sequential, which makes cancelling thousands of tasks measurably faster.
        self._running: dict[asyncio.Task[Any], None] = {}
        self._closing = False
        self._idle_waiter: asyncio.Future[None] | None = None
        self._report_ready: asyncio.Future[ShutdownReport] | None = None
        self._report: ShutdownReport | None = None
        # Outcomes, recorded by _on_task_done as tasks end.
        self._completed: list[str] = []
        self._completed_before_shutdown = 0
        self._failed: list[TaskFailure] = []
        self._cancelled: list[str] = []

    @property
    def closing(self) -> bool:
        """True once :meth:`shutdown` has begun; :meth:`spawn` then raises."""
        return self._closing

    @property
    def report(self) -> ShutdownReport | None:
        """The report of the finished shutdown, or ``None`` before that."""
        return self._report

    def __len__(self) -> int:
        """The number of supervised tasks still running."""
        return len(self._running)

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run *coro* as a supervised task and return the task.

        The supervisor keeps a strong reference to the task until it ends and
        records how it ended. *name* defaults to the coroutine's qualified
        name and is used in the log and the report.

        Cancellation and timeouts do not apply: this returns immediately. If
        you cancel the returned task yourself, it is reported as cancelled.

        Raises:
            TypeError: if *coro* is not a coroutine object (for example the
                async function itself, not a call to it) or *name* is not a
                str.
            SupervisorClosedError: if shutdown has begun; *coro* is closed so
                it does not warn that it was never awaited.
            RuntimeError: if no event loop is running.
        """
        if not isinstance(coro, Coroutine):
            raise TypeError(
                "spawn() expected a coroutine object, such as worker(), "
                f"got {type(coro).__name__}: {coro!r}"
            )
        try:
            check_name(name, what="name")
            if self._closing:
                raise SupervisorClosedError(
                    "cannot spawn a task: this TaskSupervisor is shutting down or has shut down"
                )
            loop = asyncio.get_running_loop()
        except BaseException:
            coro.close()
            raise
        if name is None:
            name = getattr(coro, "__qualname__", None)
        task = loop.create_task(coro, name=name)
        self._running[task] = None
        task.add_done_callback(self._on_task_done)
        return task

    def close(self) -> None:
        """Stop accepting new tasks; the running ones keep running.

        This is the first phase of :meth:`shutdown`, on its own: use it when
        something else decides how long to wait. From now on :meth:`spawn`
        raises :class:`SupervisorClosedError` and tasks that return normally
        are listed by name in :attr:`ShutdownReport.completed`.

        Cancellation and timeouts do not apply: this returns immediately.
        """
        self._closing = True

    async def shutdown(
        self, *, grace: float | None = None, cancel_timeout: float | None = None
    ) -> ShutdownReport:
        """Stop the supervised tasks in phases and return a report.

        The phases, in order:

        1. stop accepting: :meth:`spawn` raises from now on;
        2. wait up to *grace* seconds for the running tasks to finish;
        3. cancel the tasks still running;
        4. wait up to *cancel_timeout* seconds for them to end.

        Tasks still running after that are listed in
        :attr:`ShutdownReport.ignored_cancellation`; the call returns anyway,
        so it never waits longer than *grace* plus *cancel_timeout*. A zero
        timeout skips its wait. The arguments default to the values given to
        the constructor.

        Calling it again, or concurrently, waits for the first call and
        returns the same report.

        On cancellation: if the calling task is cancelled while waiting, every
        task still running is cancelled at once, the report is built from
        what is known, and ``CancelledError`` propagates.

        Raises:
            TypeError: if a timeout is not a number.
            ValueError: if a timeout is negative, NaN or infinite.
        """
        grace = self._grace if grace is None else check_seconds(grace, what="grace")
        cancel_timeout = (
            self._cancel_timeout
            if cancel_timeout is None
            else check_seconds(cancel_timeout, what="cancel_timeout")
        )
        if self._report_ready is not None:
            return await asyncio.shield(self._report_ready)
        self._report_ready = asyncio.get_running_loop().create_future()

        # Phase 1: stop accepting new tasks.
        self.close()
        try:
            # Phase 2: let running tasks finish, up to the grace period.
            await self._wait_until_idle(grace)
            # Phase 3: cancel the rest.
            self._cancel_running()
            # Phase 4: wait a bounded time for the cancellations to land.
            await self._wait_until_idle(cancel_timeout)
        except asyncio.CancelledError:
            self._cancel_running()
            raise
        finally:
            self._report = self._build_report()
            self._report_ready.set_result(self._report)
        return self._report

    async def __aenter__(self) -> TaskSupervisor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        await self.shutdown(grace=0.0 if interrupted else self._grace)

    # Helpers for the phases above.

    def _cancel_running(self) -> None:
        for task in list(self._running):
            task.cancel()

    async def _wait_until_idle(self, timeout: float) -> None:
        if not self._running or timeout == 0:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._idle_waiter = waiter
        timer = loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._idle_waiter = None

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._running.pop(task, None)
        if task.cancelled():
            self._cancelled.append(task.get_name())
        else:
            # Retrieving the exception here is what keeps asyncio from
            # reporting "Task exception was never retrieved" later.
            exception = task.exception()
            if exception is None:
                if self._closing:
                    self._completed.append(task.get_name())
                else:
                    self._completed_before_shutdown += 1
            else:
                self._failed.append(TaskFailure(task.get_name(), exception))
                self._logger.error("supervised task %r failed", task.get_name(), exc_info=exception)
        if not self._running and self._idle_waiter is not None:
            _resolve(self._idle_waiter)

    def _build_report(self) -> ShutdownReport:
        return ShutdownReport(
            completed=tuple(self._completed),
            failed=tuple(self._failed),
            cancelled=tuple(self._cancelled),
            ignored_cancellation=tuple(task.get_name() for task in self._running),
            completed_before_shutdown=self._completed_before_shutdown,
        )


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
