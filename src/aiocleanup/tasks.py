"""Own background tasks, report their failures and shut them down in phases.

``asyncio.create_task`` keeps only a weak reference to the task, logs a
failure only when the task is garbage collected ("Task exception was never
retrieved") and leaves shutting down to you. :class:`TaskSupervisor` keeps a
strong reference to every task it spawns, logs each failure once, as it
happens, and shuts down in bounded phases.

Each task has a declared role:

* a job (``spawn(coro)``, the default) is work to finish: the shutdown waits
  up to the grace period for it before cancelling it;
* a background loop (``spawn(coro, drain=False)``), such as a heartbeat or a
  periodic refresh, never finishes by itself: the shutdown cancels it at once
  instead of waiting the whole grace period for it.

When to use which tool:

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
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

from ._checks import check_bool, check_coroutine, check_logger, check_name, check_seconds
from ._errors import ShuttingDown
from ._stacks import where_suspended
from ._waiting import wait_for_any

__all__ = ["ShutdownReport", "SupervisorClosedError", "TaskFailure", "TaskSupervisor"]

T = TypeVar("T")


class SupervisorClosedError(RuntimeError):
    """Raised by :meth:`TaskSupervisor.spawn` once shutdown has begun."""


class TaskFailure(NamedTuple):
    """A supervised task that raised: its name and the exception."""

    name: str
    exception: BaseException


class ShutdownReport(NamedTuple):
    """What happened to the supervised tasks.

    Attributes:
        completed: names of jobs that returned normally after shutdown began.
        failed: every task that raised, at any time, with its exception.
        cancelled: every job that ended cancelled, at any time, and every
            background loop cancelled before shutdown began.
        ignored_cancellation: names of tasks still running when the
            ``cancel_timeout`` ran out. The supervisor keeps its reference to
            them, so they are not garbage collected mid-flight.
        completed_before_shutdown: how many tasks returned normally before
            shutdown began (counted, not named, so a long-lived supervisor
            does not grow).
        stopped: names of background loops (``drain=False``) that ended
            after shutdown began, as they should: cancelled, returned, or
            ended by :class:`~aiocleanup.ShuttingDown`.
        refused: names of jobs that ended with
            :class:`~aiocleanup.ShuttingDown`: they were refused new work
            part-way, so whatever they had taken on is not done.
        suspended_at: for each task in *ignored_cancellation*, in the same
            order, where it is suspended (the call graph on Python 3.14+,
            its coroutines' frames before), so you can see what it waits for.
    """

    completed: tuple[str, ...]
    failed: tuple[TaskFailure, ...]
    cancelled: tuple[str, ...]
    ignored_cancellation: tuple[str, ...]
    completed_before_shutdown: int = 0
    stopped: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    suspended_at: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """True when no task failed, was cancelled, refused or ignored cancellation.

        Background loops stopped by the shutdown do not count: stopping them
        is their normal end.
        """
        return not (self.failed or self.cancelled or self.ignored_cancellation or self.refused)


class TaskSupervisor:
    """Own background tasks and shut them down in bounded phases.

    ::

        async with TaskSupervisor(grace=5.0, cancel_timeout=2.0) as supervisor:
            supervisor.spawn(heartbeat(), name="heartbeat", drain=False)
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

    On timeout: nothing raises. Jobs still running after the grace period
    are cancelled; tasks still running *cancel_timeout* seconds later are
    reported as ignoring cancellation, with where they are suspended, and
    left running.

    On cancellation: see above for the block, and :meth:`shutdown` for a
    cancelled shutdown.

    Args:
        grace: seconds :meth:`shutdown` lets running jobs finish before
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
        self._logger = check_logger(logger)
        # Each running task and whether it is a job to drain (True) or a
        # background loop to stop (False). A dict, not a set: cancelling in
        # spawn order keeps memory access sequential, which makes cancelling
        # thousands of tasks measurably faster.
        self._running: dict[asyncio.Task[Any], bool] = {}
        self._running_jobs = 0
        # Set while no task, and while no job, is running: what the phases wait for.
        self._idle = asyncio.Event()
        self._idle.set()
        self._jobs_done = asyncio.Event()
        self._jobs_done.set()
        self._closing = False
        self._report_ready: asyncio.Future[ShutdownReport] | None = None
        self._report: ShutdownReport | None = None
        # Outcomes, recorded by _on_task_done as tasks end.
        self._completed: list[str] = []
        self._completed_before_shutdown = 0
        self._failed: list[TaskFailure] = []
        self._cancelled: list[str] = []
        self._stopped: list[str] = []
        self._refused: list[str] = []

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

    def spawn(
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None, drain: bool = True
    ) -> asyncio.Task[T]:
        """Run *coro* as a supervised task and return the task.

        The supervisor keeps a strong reference to the task until it ends and
        records how it ended. *name* defaults to the coroutine's qualified
        name and is used in the log and the report.

        *drain* declares the task's role. A job (``True``, the default) is
        work the shutdown waits for, up to the grace period. A background
        loop (``False``) is cancelled as soon as the shutdown begins, and
        its end is reported in :attr:`ShutdownReport.stopped`, not as a
        cancellation.

        Cancellation and timeouts do not apply: this returns immediately. If
        you cancel the returned task yourself, it is reported as cancelled.

        Raises:
            TypeError: if *coro* is not a coroutine object (for example the
                async function itself, not a call to it), *name* is not a
                str or *drain* not a bool.
            SupervisorClosedError: if shutdown has begun; *coro* is closed so
                it does not warn that it was never awaited.
            RuntimeError: if no event loop is running.
        """
        check_coroutine(coro, caller="spawn()")
        try:
            check_name(name, what="name")
            check_bool(drain, what="drain")
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
        self._running[task] = drain
        self._idle.clear()
        if drain:
            self._running_jobs += 1
            self._jobs_done.clear()
        task.add_done_callback(self._on_task_done)
        return task

    def close(self) -> None:
        """Stop accepting new tasks; the running ones keep running.

        This is the first phase of :meth:`shutdown`, on its own: use it when
        something else decides how long to wait. From now on :meth:`spawn`
        raises :class:`SupervisorClosedError` and tasks that end are
        reported by name.

        Cancellation and timeouts do not apply: this returns immediately.
        """
        self._closing = True

    async def shutdown(
        self, *, grace: float | None = None, cancel_timeout: float | None = None
    ) -> ShutdownReport:
        """Stop the supervised tasks in phases and return a report.

        The phases, in order:

        1. stop accepting: :meth:`spawn` raises from now on;
        2. cancel the background loops (``drain=False``) at once;
        3. wait up to *grace* seconds for the jobs to finish;
        4. cancel the tasks still running;
        5. wait up to *cancel_timeout* seconds for them to end.

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
            # Phase 2: background loops never finish by themselves.
            self._cancel(task for task, drain in self._running.items() if not drain)
            # Phase 3: let the jobs finish, up to the grace period.
            await wait_for_any((self._jobs_done,), grace)
            # Phase 4: cancel the rest.
            self._cancel(self._running)
            # Phase 5: wait a bounded time for the cancellations to land.
            await wait_for_any((self._idle,), cancel_timeout)
        except asyncio.CancelledError:
            self._cancel(self._running)
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

    @staticmethod
    def _cancel(tasks: Iterable[asyncio.Task[Any]]) -> None:
        for task in list(tasks):
            task.cancel()

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        drain = self._running.pop(task, True)
        if drain:
            self._running_jobs -= 1
            if not self._running_jobs:
                self._jobs_done.set()
        if not self._running:
            self._idle.set()
        name = task.get_name()
        if task.cancelled():
            if drain or not self._closing:
                self._cancelled.append(name)
            else:
                self._stopped.append(name)
            return
        # Retrieving the exception here is what keeps asyncio from reporting
        # "Task exception was never retrieved" later.
        exception = task.exception()
        if exception is None:
            if not self._closing:
                self._completed_before_shutdown += 1
            elif drain:
                self._completed.append(name)
            else:
                self._stopped.append(name)
        elif isinstance(exception, ShuttingDown) and not drain:
            self._stopped.append(name)
        elif isinstance(exception, ShuttingDown):
            self._refused.append(name)
            self._logger.warning(
                "supervised task %r was refused new work and ended: %s; whatever it had "
                "taken on is not done",
                name,
                exception,
            )
        else:
            self._failed.append(TaskFailure(name, exception))
            self._logger.error("supervised task %r failed", name, exc_info=exception)

    def _build_report(self) -> ShutdownReport:
        return ShutdownReport(
            completed=tuple(self._completed),
            failed=tuple(self._failed),
            cancelled=tuple(self._cancelled),
            ignored_cancellation=tuple(task.get_name() for task in self._running),
            completed_before_shutdown=self._completed_before_shutdown,
            stopped=tuple(self._stopped),
            refused=tuple(self._refused),
            suspended_at=tuple(where_suspended(task) for task in self._running),
        )
