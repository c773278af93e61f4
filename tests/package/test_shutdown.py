"""aiocleanup.shutdown: GracefulShutdown in-process, including the fault matrix."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Callable

import pytest

from aiocleanup import (
    ExitStatus,
    GracefulShutdown,
    ShutdownPhase,
    ShutdownResult,
    ShuttingDown,
    TaskSupervisor,
)

pytestmark = pytest.mark.asyncio

SIG = signal.SIGUSR1

# An upper bound for "promptly": far below the grace periods the tests use
# to tell a prompt shutdown from one that waited, far above what a loaded
# two-core machine needs.
PROMPTLY = 10.0


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until *condition* holds, for things that set no event (signals)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def send(sig: signal.Signals = SIG) -> None:
    os.kill(os.getpid(), sig)


def result_of(shutdown: GracefulShutdown) -> ShutdownResult:
    assert shutdown.result is not None
    return shutdown.result


def outcomes(result: ShutdownResult) -> list[tuple[str, str, str]]:
    return [(item.outcome, item.kind, item.name) for item in result.unfinished]


# Requesting, steps and the report.


async def test_request_runs_steps_in_lifo_order_and_exits_clean(
    no_leaks: object,
) -> None:
    ran: list[str] = []

    async def async_step() -> None:
        await asyncio.sleep(0)
        ran.append("async")

    async with GracefulShutdown(signals=()) as shutdown:
        shutdown.push(lambda: ran.append("first"), name="first")
        shutdown.push(async_step)
        shutdown.push(lambda: ran.append("last"), name="last")
        assert not shutdown.requested
        assert shutdown.ready
        asyncio.get_running_loop().call_soon(shutdown.request, "test")
        assert await shutdown.wait() == "test"
        assert shutdown.requested
        assert not shutdown.ready
    assert ran == ["last", "async", "first"]
    result = result_of(shutdown)
    assert result.reason == "test"
    assert result.steps == ("last", async_step.__qualname__, "first")
    assert result.exit_status is ExitStatus.CLEAN == 0
    assert shutdown.exit_status == 0
    assert result.drained
    assert not result.forced
    assert result.cut_off == 0
    assert result.unfinished == ()
    assert shutdown.phase is ShutdownPhase.DONE


async def test_leaving_the_block_shuts_down(no_leaks: object) -> None:
    async with GracefulShutdown(signals=()) as shutdown:
        assert shutdown.phase is ShutdownPhase.RUNNING
    assert result_of(shutdown).reason == "the service body returned"
    assert shutdown.exit_status is ExitStatus.CLEAN


async def test_the_result_is_the_exit_status_and_reports_as_text() -> None:
    async with GracefulShutdown(signals=(), grace=0.05, cancel_timeout=5) as shutdown:
        shutdown.push(lambda: None, name="cache")
        shutdown.spawn(asyncio.sleep(60), name="export")
    result = result_of(shutdown)
    assert isinstance(result, int)
    assert result == 3 == result.status == result.exit_status
    assert result.status is ExitStatus.CUT_OFF
    assert "exit status: 3 (CUT_OFF)" in result.report
    assert "cut off: job 'export'" in result.report
    assert "'cache': done" in result.report
    with pytest.raises(AttributeError, match="read-only"):
        result.reason = "changed"  # type: ignore[misc]


async def test_a_failing_step_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise OSError("disk gone")

    async def broken_async() -> None:
        raise KeyError("missing")

    async with GracefulShutdown(signals=()) as shutdown:
        shutdown.push(lambda: ran.append("first"), name="first")
        shutdown.push(broken, name="broken")
        shutdown.push(broken_async, name="broken_async")
        shutdown.push(lambda: ran.append("last"), name="last")
    result = result_of(shutdown)
    assert ran == ["last", "first"]
    assert [(f.name, type(f.exception)) for f in result.step_failures] == [
        ("broken_async", KeyError),
        ("broken", OSError),
    ]
    assert result.exit_status is ExitStatus.STEPS_FAILED == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "aiocleanup"]
    assert any("'broken'" in m and "failed" in m for m in logged)


async def test_a_hanging_step_times_out_and_later_steps_still_run() -> None:
    ran: list[str] = []
    release = asyncio.Event()
    stubborn_ended = asyncio.Event()

    async def hangs() -> None:
        await asyncio.sleep(60)

    async def hangs_and_ignores_cancellation() -> None:
        try:
            while not release.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await release.wait()
        finally:
            stubborn_ended.set()

    started = time.monotonic()
    try:
        async with GracefulShutdown(signals=(), cancel_timeout=0.1) as shutdown:
            shutdown.push(lambda: ran.append("first"), name="first")
            shutdown.push(hangs, name="hangs", timeout=0.1)
            stubborn = shutdown.push(hangs_and_ignores_cancellation, name="stubborn", timeout=0.1)
            shutdown.push(lambda: ran.append("last"), name="last")
        elapsed = time.monotonic() - started
    finally:
        release.set()
    result = result_of(shutdown)
    assert ran == ["last", "first"]
    assert [f.name for f in result.step_failures] == ["stubborn", "hangs"]
    assert all(isinstance(f.exception, TimeoutError) for f in result.step_failures)
    assert "within 0.1 seconds" in str(result.step_failures[0].exception)
    # Bounded: per step, its timeout plus cancel_timeout.
    assert 0.2 <= elapsed < PROMPTLY
    assert stubborn is hangs_and_ignores_cancellation
    await asyncio.wait_for(stubborn_ended.wait(), PROMPTLY)


async def test_a_blocking_plain_step_that_overruns_is_a_failure() -> None:
    # A plain function cannot be interrupted, but returning late is no success.
    async with GracefulShutdown(signals=()) as shutdown:
        shutdown.push(lambda: time.sleep(0.3), name="flush", timeout=0.05)
        shutdown.push(lambda: None, name="quick", timeout=0.05)
    result = result_of(shutdown)
    assert result.exit_status is ExitStatus.STEPS_FAILED
    [failure] = result.step_failures
    assert failure.name == "flush"
    assert isinstance(failure.exception, TimeoutError)
    assert "blocked the event loop for" in str(failure.exception)
    assert "more than its timeout of 0.05 seconds" in str(failure.exception)


async def test_a_task_that_ignores_cancellation_is_reported_with_where_it_waits() -> None:
    release = asyncio.Event()

    async def wait_for_release() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    async def stubborn() -> None:
        await wait_for_release()

    started = time.monotonic()
    try:
        async with GracefulShutdown(signals=(), grace=0.1, cancel_timeout=0.1) as shutdown:
            task = shutdown.spawn(stubborn(), name="stubborn")
        elapsed = time.monotonic() - started
        result = result_of(shutdown)
    finally:
        release.set()
    assert result.tasks.ignored_cancellation == ("stubborn",)
    assert not result.drained
    assert result.cut_off == 1
    assert result.exit_status is ExitStatus.CUT_OFF == 3
    assert 0.2 <= elapsed < PROMPTLY
    [item] = result.unfinished
    assert (item.outcome, item.kind, item.name) == ("left running", "job", "stubborn")
    # Where it waits: its own frames, down to the coroutine it awaits.
    assert "stubborn" in item.detail
    assert "wait_for_release" in item.detail
    if sys.version_info >= (3, 14):
        assert "Call stack" in item.detail  # asyncio.format_call_graph()
    assert item.detail in result.tasks.suspended_at
    assert "wait_for_release" in result.report
    await asyncio.wait_for(task, PROMPTLY)


async def test_two_concurrent_requests_make_one_shutdown() -> None:
    ran: list[str] = []
    async with GracefulShutdown(signals=()) as shutdown:
        shutdown.push(lambda: ran.append("step"))

        async def ask(reason: str) -> None:
            await asyncio.sleep(0)
            shutdown.request(reason)

        await asyncio.gather(ask("first"), ask("second"))
        await shutdown.wait()
    assert ran == ["step"]
    assert result_of(shutdown).reason == "first"
    assert not result_of(shutdown).forced


async def test_request_may_be_called_from_another_thread() -> None:
    async with GracefulShutdown(signals=()) as shutdown:
        await asyncio.to_thread(shutdown.request, "from a thread")
        assert await asyncio.wait_for(shutdown.wait(), PROMPTLY) == "from a thread"
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


# In-flight units, jobs and refusing new work.


async def test_ten_thousand_inflight_units_are_drained() -> None:
    finished = 0
    release = asyncio.Event()

    async def unit(shutdown: GracefulShutdown) -> None:
        nonlocal finished
        async with shutdown.inflight():
            await release.wait()
            finished += 1

    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        workers = [asyncio.ensure_future(unit(shutdown)) for _ in range(10_000)]
        await asyncio.sleep(0)
        assert shutdown.inflight_count == 10_000
        shutdown.request("test")
        release.set()
    assert finished == 10_000
    result = result_of(shutdown)
    assert result.drained
    assert result.cut_off == 0
    assert result.exit_status is ExitStatus.CLEAN
    assert shutdown.inflight_count == 0
    await asyncio.gather(*workers)


async def test_new_work_is_refused_once_shutdown_was_requested() -> None:
    entered = asyncio.Event()
    finish = asyncio.Event()
    refused: list[ShuttingDown] = []

    async def handler(shutdown: GracefulShutdown) -> None:
        async with shutdown.inflight():
            entered.set()
            await finish.wait()
        try:
            async with shutdown.inflight():
                pass
        except ShuttingDown as error:
            refused.append(error)

    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        shutdown.spawn(handler(shutdown))
        await entered.wait()
        shutdown.request("maintenance")
        assert shutdown.draining
        coro = asyncio.sleep(0)
        with pytest.raises(ShuttingDown, match="maintenance"):
            shutdown.spawn(coro)
        assert coro.cr_frame is None
        with pytest.raises(ShuttingDown):
            async with shutdown.inflight():
                pass
        finish.set()
        await shutdown.wait()
    assert refused[0].reason == "maintenance"
    with pytest.raises(ShuttingDown):
        shutdown.push(lambda: None)
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_units_are_named_in_the_report() -> None:
    async def export(shutdown: GracefulShutdown) -> None:
        async with shutdown.inflight(name="export 7"):
            await asyncio.sleep(60)

    async with GracefulShutdown(signals=(), grace=0.05, cancel_timeout=5) as shutdown:
        task = asyncio.ensure_future(export(shutdown))
        await asyncio.sleep(0)
        assert shutdown.inflight_count == 1
    assert outcomes(result_of(shutdown)) == [("cut off", "unit", "export 7")]
    assert "cut off: unit 'export 7'" in result_of(shutdown).report
    assert task.cancelled()


async def test_a_unit_cut_off_in_the_body_counts_once() -> None:
    async with GracefulShutdown(signals=(), grace=0.05, cancel_timeout=5) as shutdown:
        asyncio.get_running_loop().call_soon(shutdown.request, "test")
        async with shutdown.inflight(name="long job"):
            await asyncio.sleep(60)  # a job longer than the grace period
    result = result_of(shutdown)
    assert result.cut_off == 1
    assert outcomes(result) == [("cut off", "unit", "long job")]
    assert result.exit_status is ExitStatus.CUT_OFF


async def test_a_failed_job_makes_the_status_cut_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise ValueError("bad")

    with caplog.at_level(logging.ERROR, logger="aiocleanup"):
        async with GracefulShutdown(signals=()) as shutdown:
            task = shutdown.spawn(broken(), name="broken")
            await asyncio.wait([task])
    result = result_of(shutdown)
    assert [f.name for f in result.tasks.failed] == ["broken"]
    assert outcomes(result) == [("failed", "job", "broken")]
    assert result.unfinished[0].detail == "ValueError('bad')"
    assert result.exit_status is ExitStatus.CUT_OFF


# The roles: body, jobs, background loops.


async def test_a_periodic_background_loop_is_stopped_at_once() -> None:
    # A spawned `while True: sleep()` used to be drained like real work: the
    # shutdown waited the whole grace period for it and exited CUT_OFF.
    handled = asyncio.Event()
    in_unit = asyncio.Event()

    async def refresh_cache() -> None:
        while True:  # noqa: ASYNC110 - the periodic worker under test
            await asyncio.sleep(0.5)

    async def request(shutdown: GracefulShutdown) -> None:
        async with shutdown.inflight(name="request"):
            in_unit.set()
            await handled.wait()

    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        poller = shutdown.spawn(refresh_cache(), name="refresh", drain=False)
        shutdown.spawn(request(shutdown), name="request")
        await in_unit.wait()
        shutdown.request("deploy")
        handled.set()
    assert time.monotonic() - started < PROMPTLY
    result = result_of(shutdown)
    assert result.exit_status is ExitStatus.CLEAN
    assert result.tasks.stopped == ("refresh",)
    assert result.tasks.completed == ("request",)
    assert result.tasks.clean
    assert poller.cancelled()


async def test_a_background_loop_is_stopped_after_its_inflight_unit() -> None:
    log: list[str] = []
    in_unit = asyncio.Event()
    finish = asyncio.Event()

    async def worker(shutdown: GracefulShutdown) -> None:
        try:
            while True:
                async with shutdown.inflight(name="job"):
                    in_unit.set()
                    await finish.wait()
                    log.append("job done")
                await asyncio.sleep(60)
        except asyncio.CancelledError:
            log.append("worker cancelled")
            raise

    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        shutdown.spawn(worker(shutdown), name="worker", drain=False)
        await in_unit.wait()
        shutdown.request("deploy")
        finish.set()
    assert log == ["job done", "worker cancelled"]
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_a_stop_body_is_cancelled_after_its_inflight_unit() -> None:
    log: list[str] = []
    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=60, body="stop") as shutdown:
        asyncio.get_running_loop().call_soon(shutdown.request, "test")
        async with shutdown.inflight():
            await shutdown.wait()
            await asyncio.sleep(0.05)  # the rest of the unit's work
            log.append("unit finished")
        try:
            await asyncio.sleep(60)  # the acceptor, waiting for the next job
        except asyncio.CancelledError:
            log.append("body cancelled")
            raise
    assert time.monotonic() - started < PROMPTLY
    assert log == ["unit finished", "body cancelled"]
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_the_body_role_does_not_depend_on_calling_wait() -> None:
    # It used to: a body that once called wait() was never cancelled again,
    # and wait_for() runs wait() in the calling task only on 3.12+, so a
    # bounded check made 3.12+ wait the whole grace period and exit CUT_OFF
    # where 3.10/3.11 exited CLEAN at once.
    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=60, body="stop") as shutdown:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(shutdown.wait(), 0.01)
        asyncio.get_running_loop().call_soon(shutdown.request, "deploy")
        await asyncio.sleep(60)  # the acceptor
    assert time.monotonic() - started < PROMPTLY
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_a_drain_body_that_does_not_return_is_cut_off_at_the_grace_period() -> None:
    # The default role: the body gets the grace period to return by itself,
    # on every Python version, whether or not it called wait().
    async with GracefulShutdown(signals=(), grace=0.1, cancel_timeout=5) as shutdown:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(shutdown.wait(), 0.01)
        shutdown.request("deploy")
        await asyncio.sleep(60)  # never returns by itself
    result = result_of(shutdown)
    assert outcomes(result) == [("cut off", "service body", "service body")]
    assert result.exit_status is ExitStatus.CUT_OFF


async def test_a_body_that_watches_for_the_request_returns_by_itself() -> None:
    log: list[str] = []
    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        asyncio.get_running_loop().call_soon(shutdown.request, "test")
        await shutdown.wait()
        await asyncio.sleep(0.02)  # e.g. server.wait_closed()
        log.append("body finished its own shutdown")
    assert log == ["body finished its own shutdown"]
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_unless_stopping_returns_the_value_or_raises_once_stopping() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    async with GracefulShutdown(signals=()) as shutdown:
        queue.put_nowait(1)
        assert await shutdown.unless_stopping(queue.get()) == 1
        getter = asyncio.ensure_future(shutdown.unless_stopping(queue.get()))
        await asyncio.sleep(0)
        shutdown.request("deploy")
        with pytest.raises(ShuttingDown, match="deploy"):
            await getter
        queue.put_nowait(2)  # the cancelled get() took nothing
        assert queue.get_nowait() == 2
        late = asyncio.sleep(60)
        with pytest.raises(ShuttingDown):
            await shutdown.unless_stopping(late)
        assert late.cr_frame is None  # closed, so no "never awaited" warning
        with pytest.raises(TypeError, match="expected an awaitable"):
            await shutdown.unless_stopping(queue.get)  # type: ignore[arg-type]


async def test_unless_stopping_keeps_a_value_taken_as_the_shutdown_began() -> None:
    # Both finish in the same loop iteration: the item taken is returned,
    # not dropped, so a worker never strands what it took.
    async with GracefulShutdown(signals=()) as shutdown:
        item: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiter = asyncio.ensure_future(shutdown.unless_stopping(item))
        await asyncio.sleep(0)
        item.set_result("job 1")
        shutdown.request("deploy")
        assert await waiter == "job 1"


async def test_cancelling_unless_stopping_cancels_what_it_awaits() -> None:
    async with GracefulShutdown(signals=()) as shutdown:
        inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = asyncio.ensure_future(shutdown.unless_stopping(inner))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert inner.cancelled()


# Queue workers.


async def test_a_worker_that_takes_a_job_before_its_unit_is_reported() -> None:
    # Taking a job, then entering inflight(): once the service stops
    # accepting, each worker takes one more job and is refused, stranding
    # it. That used to log ERROR tracebacks and exit CLEAN.
    jobs: asyncio.Queue[int] = asyncio.Queue()
    for number in range(20):
        jobs.put_nowait(number)
    all_busy = asyncio.Event()
    finish = asyncio.Event()
    taken: set[int] = set()
    done: set[int] = set()

    async def worker(shutdown: GracefulShutdown) -> None:
        while True:
            job = await jobs.get()
            taken.add(job)
            async with shutdown.inflight(name=f"job {job}"):
                if len(taken) == 4:
                    all_busy.set()
                await finish.wait()
                done.add(job)

    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    logging.getLogger("aiocleanup").addHandler(handler)
    try:
        async with GracefulShutdown(signals=(), grace=60) as shutdown:
            for number in range(4):
                shutdown.spawn(worker(shutdown), name=f"worker {number}")
            await all_busy.wait()
            shutdown.request("deploy")
            finish.set()
    finally:
        logging.getLogger("aiocleanup").removeHandler(handler)
    result = result_of(shutdown)
    stranded = taken - done
    assert len(stranded) == 4
    assert result.exit_status is ExitStatus.CUT_OFF
    assert sorted(outcomes(result)) == [("refused", "job", f"worker {n}") for n in range(4)]
    assert result.tasks.refused
    assert not result.tasks.failed
    assert not [r for r in records if r.levelno >= logging.ERROR]
    refusals = [r.getMessage() for r in records if "refused new work" in r.getMessage()]
    assert len(refusals) == 4
    assert all(r.exc_info is None for r in records if "refused" in r.getMessage())


async def test_a_worker_loop_with_units_and_unless_stopping_strands_nothing() -> None:
    jobs: asyncio.Queue[int] = asyncio.Queue()
    for number in range(20):
        jobs.put_nowait(number)
    started = asyncio.Event()
    finish = asyncio.Event()
    taken: set[int] = set()
    done: set[int] = set()

    async def worker(shutdown: GracefulShutdown) -> None:
        while True:
            async with shutdown.inflight(name="job"):  # before taking the job
                job = await shutdown.unless_stopping(jobs.get())
                taken.add(job)
                started.set()
                await finish.wait()
                done.add(job)

    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        for number in range(4):
            shutdown.spawn(worker(shutdown), name=f"worker {number}", drain=False)
        await started.wait()
        shutdown.request("deploy")
        finish.set()
    result = result_of(shutdown)
    assert taken == done
    assert len(done) + jobs.qsize() == 20
    assert result.exit_status is ExitStatus.CLEAN, result.report
    assert sorted(result.tasks.stopped) == [f"worker {n}" for n in range(4)]


async def test_an_idle_worker_loop_stops_at_once() -> None:
    jobs: asyncio.Queue[int] = asyncio.Queue()

    async def worker(shutdown: GracefulShutdown) -> None:
        while True:
            async with shutdown.inflight(name="job"):
                await shutdown.unless_stopping(jobs.get())

    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        shutdown.spawn(worker(shutdown), name="worker", drain=False)
        shutdown.request("deploy")
    assert time.monotonic() - started < PROMPTLY
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# Structured concurrency: task groups in the body.


requires_task_group = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="asyncio.TaskGroup is new in Python 3.11"
)


@requires_task_group
async def test_a_task_group_body_lets_its_jobs_finish() -> None:
    # The body used to be cancelled at the request, which cancelled the
    # group and every job in it at once, and the status still said CLEAN.
    requests: asyncio.Queue[float] = asyncio.Queue()
    handled = asyncio.Event()
    log: list[str] = []

    async def handle(shutdown: GracefulShutdown, seconds: float) -> None:
        try:
            async with shutdown.inflight(name="slow"):
                handled.set()
                await shutdown.wait()
                await asyncio.sleep(seconds)  # the rest of the job
                log.append("slow: done")
        except asyncio.CancelledError:
            log.append("slow: CANCELLED")
            raise

    async with GracefulShutdown(signals=(), grace=1, cancel_timeout=5) as shutdown:
        requests.put_nowait(0.05)
        async with asyncio.TaskGroup() as group:
            while True:
                seconds = await requests.get()
                group.create_task(handle(shutdown, seconds))
                await handled.wait()
                shutdown.request("deploy")
    assert log == ["slow: done"]
    result = result_of(shutdown)
    # The acceptor kept waiting in get(): the body is what was cut off.
    assert outcomes(result) == [("cut off", "service body", "service body")]
    assert result.exit_status is ExitStatus.CUT_OFF


@requires_task_group
async def test_a_task_group_body_with_unless_stopping_drains_and_exits_clean() -> None:
    requests: asyncio.Queue[float] = asyncio.Queue()
    handled = asyncio.Event()
    log: list[str] = []

    async def handle(shutdown: GracefulShutdown, seconds: float) -> None:
        async with shutdown.inflight(name="slow"):
            handled.set()
            await asyncio.sleep(seconds)
            log.append("slow: done")

    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        requests.put_nowait(0.2)
        waiter = asyncio.ensure_future(_request_once(handled, shutdown))
        async with asyncio.TaskGroup() as group:
            with contextlib.suppress(ShuttingDown):
                while True:
                    seconds = await shutdown.unless_stopping(requests.get())
                    group.create_task(handle(shutdown, seconds))
    await waiter
    assert time.monotonic() - started < PROMPTLY
    assert log == ["slow: done"]
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def _request_once(event: asyncio.Event, shutdown: GracefulShutdown) -> None:
    await event.wait()
    shutdown.request("deploy")


@requires_task_group
async def test_shutting_down_inside_an_exception_group_ends_the_body_quietly() -> None:
    # A late request refused inside the group: the group cancels its other
    # tasks and raises ExceptionGroup([ShuttingDown]). The block ends
    # quietly, and the job the group cancelled is reported.
    entered = asyncio.Event()

    async def handle(shutdown: GracefulShutdown) -> None:
        async with shutdown.inflight(name="in flight"):
            entered.set()
            await asyncio.sleep(60)

    async def late(shutdown: GracefulShutdown) -> None:
        async with shutdown.inflight(name="late"):
            pass

    async with GracefulShutdown(signals=(), grace=60) as shutdown, asyncio.TaskGroup() as group:
        group.create_task(handle(shutdown))
        await entered.wait()
        shutdown.request("deploy")
        group.create_task(late(shutdown))
    result = result_of(shutdown)
    assert outcomes(result) == [("cut off", "unit", "in flight")]
    assert result.exit_status is ExitStatus.CUT_OFF


@requires_task_group
async def test_an_exception_group_with_other_errors_propagates() -> None:
    shutdown = GracefulShutdown(signals=())

    async def service() -> None:
        async with shutdown, asyncio.TaskGroup() as group:
            group.create_task(_raise(ShuttingDown("deploy")))
            group.create_task(_raise(KeyError("bug")))

    with pytest.raises(ExceptionGroup) as caught:  # noqa: F821 - a builtin from 3.11
        await service()
    assert sorted(type(error).__name__ for error in caught.value.exceptions) == [
        "KeyError",
        "ShuttingDown",
    ]
    assert outcomes(result_of(shutdown))[0][:2] == ("failed", "service body")


async def _raise(error: BaseException) -> None:
    raise error


async def test_an_anyio_task_group_body_drains_its_jobs() -> None:
    anyio = pytest.importorskip("anyio")
    requests: asyncio.Queue[float] = asyncio.Queue()
    handled = asyncio.Event()
    log: list[str] = []

    async def handle(shutdown: GracefulShutdown, seconds: float) -> None:
        async with shutdown.inflight(name="slow"):
            handled.set()
            await asyncio.sleep(seconds)
            log.append("slow: done")

    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        requests.put_nowait(0.2)
        waiter = asyncio.ensure_future(_request_once(handled, shutdown))
        async with anyio.create_task_group() as group:
            with contextlib.suppress(ShuttingDown):
                while True:
                    seconds = await shutdown.unless_stopping(requests.get())
                    group.start_soon(handle, shutdown, seconds)
    await waiter
    assert time.monotonic() - started < PROMPTLY
    assert log == ["slow: done"]
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


# Readiness, the drain delay and framework drains.


async def test_readiness_hook_and_drain_delay_keep_accepting_for_a_while() -> None:
    events: list[str] = []
    async with GracefulShutdown(signals=(), drain_delay=0.1, grace=60) as shutdown:
        shutdown.on_request(lambda: events.append(f"ready={shutdown.ready}"), name="readiness")
        shutdown.request("deploy")
        assert not shutdown.ready
        assert shutdown.phase is ShutdownPhase.REQUESTED
        async with shutdown.inflight(name="during the delay"):  # still accepted
            events.append("unit accepted")
        started = time.monotonic()
        await shutdown.wait()
        events.append("stopped accepting")
        assert time.monotonic() - started >= 0.09
        with pytest.raises(ShuttingDown):
            async with shutdown.inflight():
                pass
    assert events == ["ready=False", "unit accepted", "stopped accepting"]
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_a_second_request_skips_the_drain_delay() -> None:
    started = time.monotonic()
    async with GracefulShutdown(signals=(), drain_delay=60) as shutdown:
        shutdown.request("deploy")
        shutdown.request("again", force=True)
        await shutdown.wait()
    assert time.monotonic() - started < PROMPTLY
    assert result_of(shutdown).forced


async def test_a_failing_readiness_hook_is_a_step_failure() -> None:
    def broken() -> None:
        raise RuntimeError("registry unreachable")

    async with GracefulShutdown(signals=()) as shutdown:
        shutdown.on_request(broken, name="deregister")
    result = result_of(shutdown)
    assert [f.name for f in result.step_failures] == ["on_request deregister"]
    assert result.exit_status is ExitStatus.STEPS_FAILED


async def test_a_framework_drain_is_work_to_drain() -> None:
    # What an integration does for uvicorn: serve() runs as a job, and the
    # stop hook sets should_exit; the one drain timer waits for serve().
    class Server:
        should_exit = False

        async def serve(self) -> None:
            while not self.should_exit:  # noqa: ASYNC110 - as uvicorn's main loop does
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the server's own drain

    server = Server()
    async with GracefulShutdown(signals=(), grace=60) as shutdown:
        shutdown.spawn(server.serve(), name="server")
        shutdown.on_stop(lambda: setattr(server, "should_exit", True), name="server")
        shutdown.request("deploy")
    result = result_of(shutdown)
    assert result.exit_status is ExitStatus.CLEAN
    assert result.tasks.completed == ("server",)


async def test_an_awaitable_stop_hook_is_drained_and_cut_off_at_the_grace_period() -> None:
    drained: list[str] = []

    async def cleanup_runner() -> None:
        await asyncio.sleep(0.02)
        drained.append("runner")

    async def never_done() -> None:
        await asyncio.sleep(60)

    async with GracefulShutdown(signals=(), grace=0.3, cancel_timeout=5) as shutdown:
        shutdown.on_stop(cleanup_runner, name="runner")
        shutdown.on_stop(never_done, name="stuck framework")
    result = result_of(shutdown)
    assert drained == ["runner"]
    assert outcomes(result) == [("cut off", "stop hook", "stuck framework")]


# Managed processes.


requires_posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")

_CHILD = """
import signal, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


@requires_posix
@pytest.mark.parametrize("kind", ["polite", "stubborn"])
async def test_managed_processes_are_terminated_then_killed(kind: str) -> None:
    async with GracefulShutdown(signals=(), cancel_timeout=5) as shutdown:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            kind,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert shutdown.manage_process(child, name=kind, timeout=0.2) is child
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), PROMPTLY) == b"ready\n"
    result = result_of(shutdown)
    assert child.returncode is not None
    if kind == "polite":
        assert child.returncode == -signal.SIGTERM
        assert result.exit_status is ExitStatus.CLEAN
    else:
        assert child.returncode == -signal.SIGKILL
        [failure] = result.step_failures
        assert "did not exit within 0.2 seconds of SIGTERM; it was killed" in str(failure.exception)


async def test_manage_process_wants_an_asyncio_process() -> None:
    async with GracefulShutdown(signals=()) as shutdown:
        with pytest.raises(TypeError, match=r"asyncio\.subprocess\.Process"):
            shutdown.manage_process(object())  # type: ignore[type-var]


# Signals.


async def test_a_second_signal_during_the_drain_skips_to_cancellation(
    fallback_handlers: dict[int, int],
) -> None:
    cancelled = asyncio.Event()
    entered = asyncio.Event()

    async def long_work(shutdown: GracefulShutdown) -> None:
        try:
            async with shutdown.inflight():
                entered.set()
                await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def send_twice(shutdown: GracefulShutdown) -> None:
        send()
        await until(lambda: shutdown.draining)
        send()

    started = time.monotonic()
    async with GracefulShutdown(signals=(SIG,), grace=60, body="stop") as shutdown:
        shutdown.spawn(long_work(shutdown))
        await entered.wait()
        signaller = asyncio.ensure_future(send_twice(shutdown))
        await asyncio.sleep(60)  # the acceptor; cancelled by the first signal
    assert time.monotonic() - started < PROMPTLY
    await signaller
    result = result_of(shutdown)
    assert result.forced
    assert not result.drained
    assert result.reason == "received SIGUSR1"
    assert result.cut_off == 1
    assert cancelled.is_set()
    assert result.exit_status is ExitStatus.CUT_OFF
    assert fallback_handlers[SIG] == 0


async def test_a_signal_handed_on_after_the_body_returned_is_not_a_second_one(
    fallback_handlers: dict[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    # uvicorn's serve() captures the signal with a handler of its own (the
    # loop still hears it), drains, puts the previous handler back and raises
    # the signal again; the body then returns by itself. That is not a
    # second signal.
    release = asyncio.Event()

    async def job() -> None:
        await release.wait()

    async def serve_like_uvicorn(shutdown: GracefulShutdown) -> None:
        captured: list[int] = []
        previous = signal.signal(SIG, lambda signum, frame: captured.append(signum))
        try:
            send()
            await shutdown.wait()  # the loop heard it too
            assert captured == [SIG]
        finally:
            signal.signal(SIG, previous)
        for signum in captured:
            signal.raise_signal(signum)

    async def release_once_handed_on(shutdown: GracefulShutdown) -> bool:
        await until(lambda: "handed on" in caplog.text)
        forced = shutdown.forced
        release.set()
        return forced

    caplog.set_level(logging.INFO, logger="aiocleanup")
    async with GracefulShutdown(signals=(SIG,), grace=60) as shutdown:
        shutdown.spawn(job(), name="job")
        watcher = asyncio.ensure_future(release_once_handed_on(shutdown))
        await serve_like_uvicorn(shutdown)
    assert await watcher is False
    result = result_of(shutdown)
    assert result.tasks.completed == ("job",)
    assert result.exit_status is ExitStatus.CLEAN
    assert not result.forced
    assert fallback_handlers[SIG] == 0


async def test_a_first_signal_during_a_shutdown_already_under_way_does_not_skip_the_drain(
    fallback_handlers: dict[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()

    async def release_once_heard(shutdown: GracefulShutdown) -> bool:
        await until(lambda: "the shutdown is under way (deploy)" in caplog.text)
        forced = shutdown.forced
        release.set()
        return forced

    caplog.set_level(logging.INFO, logger="aiocleanup")
    async with GracefulShutdown(signals=(SIG,), grace=60) as shutdown:
        shutdown.spawn(release.wait(), name="job")
        watcher = asyncio.ensure_future(release_once_heard(shutdown))
        shutdown.request("deploy")
        send()
    assert await watcher is False
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN
    assert fallback_handlers[SIG] == 0


async def test_a_signal_while_steps_are_registered_runs_them(
    fallback_handlers: dict[int, int],
) -> None:
    ran: list[int] = []
    async with GracefulShutdown(signals=(SIG,)) as shutdown:
        for index in range(5):
            shutdown.push(lambda index=index: ran.append(index), name=f"step {index}")
            if index == 2:
                send()
                await asyncio.sleep(0)
        await shutdown.wait()
    assert ran == [4, 3, 2, 1, 0]
    assert result_of(shutdown).steps == tuple(f"step {i}" for i in (4, 3, 2, 1, 0))


async def test_previous_handlers_are_restored(
    fallback_handlers: dict[int, int],
) -> None:
    before = signal.getsignal(SIG)
    async with GracefulShutdown(signals=(SIG,)):
        assert signal.getsignal(SIG) is not before
    assert signal.getsignal(SIG) is before
    send()
    await until(lambda: fallback_handlers[SIG] == 1)


async def test_a_previous_loop_handler_is_restored(
    fallback_handlers: dict[int, int],
) -> None:
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    loop.add_signal_handler(SIG, seen.append, "loop handler")
    try:
        async with GracefulShutdown(signals=(SIG,)) as shutdown:
            send()
            await shutdown.wait()
        assert seen == []
        send()
        await until(lambda: seen == ["loop handler"])
    finally:
        loop.remove_signal_handler(SIG)
    assert fallback_handlers[SIG] == 0


async def test_the_fallback_signal_path_hands_over_to_the_loop(
    fallback_handlers: dict[int, int],
) -> None:
    before = signal.getsignal(SIG)
    loop = asyncio.get_running_loop()
    async with GracefulShutdown(signals=(SIG,), signal_api="signal") as shutdown:
        handler = signal.getsignal(SIG)
        assert callable(handler)
        assert handler is not before
        assert SIG not in getattr(loop, "_signal_handlers", {})  # not the loop's
        send()
        assert await asyncio.wait_for(shutdown.wait(), PROMPTLY) == "received SIGUSR1"
    assert signal.getsignal(SIG) is before
    assert fallback_handlers[SIG] == 0


async def test_the_loop_signal_path_when_asked_for(
    fallback_handlers: dict[int, int],
) -> None:
    counting_handler = signal.getsignal(SIG)
    loop = asyncio.get_running_loop()
    async with GracefulShutdown(signals=(SIG,), signal_api="loop") as shutdown:
        assert signal.getsignal(SIG) is not counting_handler
        assert SIG in getattr(loop, "_signal_handlers", {SIG: None})
        send()
        await asyncio.wait_for(shutdown.wait(), PROMPTLY)
    assert fallback_handlers[SIG] == 0


async def test_a_signal_after_the_drain_does_not_count_as_forced(
    fallback_handlers: dict[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiocleanup")

    async def signal_during_cleanup() -> None:
        send()
        await until(lambda: "already past the drain" in caplog.text)

    async with GracefulShutdown(signals=(SIG,)) as shutdown:
        shutdown.push(signal_during_cleanup, name="signal during cleanup")
        shutdown.request("test")
        await shutdown.wait()
    result = result_of(shutdown)
    assert not result.forced
    assert result.exit_status is ExitStatus.CLEAN
    # It reached GracefulShutdown's handler, not the test's.
    assert fallback_handlers[SIG] == 0


async def test_signals_outside_the_main_thread_are_refused() -> None:
    async def in_thread() -> None:
        async with GracefulShutdown(signals=(SIG,)):
            pass

    with pytest.raises(RuntimeError, match="main thread"):
        await asyncio.to_thread(asyncio.run, in_thread())


# Cancellation and errors of the body.


async def test_a_body_exception_propagates_after_the_phases() -> None:
    ran: list[str] = []
    shutdown = GracefulShutdown(signals=())

    async def service() -> None:
        async with shutdown:
            shutdown.push(lambda: ran.append("step"))
            1 / 0  # noqa: B018

    with pytest.raises(ZeroDivisionError):
        await service()
    assert ran == ["step"]
    result = result_of(shutdown)
    assert result.reason == "the service body raised ZeroDivisionError"
    assert outcomes(result) == [("failed", "service body", "service body")]


async def test_cancelling_the_body_from_outside_skips_the_drain() -> None:
    shutdown = GracefulShutdown(signals=(), grace=60)
    running = asyncio.Event()

    async def service() -> None:
        async with shutdown:
            shutdown.spawn(asyncio.sleep(60), name="work")
            running.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(service())
    await running.wait()
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < PROMPTLY
    result = result_of(shutdown)
    assert result.forced
    assert result.tasks.cancelled == ("work",)
    assert result.exit_status is ExitStatus.CUT_OFF


# Arguments and misuse.


async def test_the_bounds_are_the_ones_passed_or_the_defaults() -> None:
    shutdown = GracefulShutdown(signals=(), grace=2, cancel_timeout=0.5, step_timeout=0)
    assert (shutdown.grace, shutdown.cancel_timeout, shutdown.step_timeout) == (2.0, 0.5, 0.0)
    assert all(
        type(seconds) is float
        for seconds in (shutdown.grace, shutdown.cancel_timeout, shutdown.step_timeout)
    )
    defaults = GracefulShutdown(signals=())
    assert (defaults.grace, defaults.cancel_timeout, defaults.step_timeout) == (10.0, 5.0, 5.0)


@pytest.mark.parametrize("name", ["grace", "cancel_timeout", "step_timeout"])
async def test_the_bounds_cannot_be_assigned(name: str) -> None:
    shutdown = GracefulShutdown(signals=(), grace=1.0, cancel_timeout=1.0, step_timeout=1.0)
    with pytest.raises(AttributeError, match=f"'{name}'"):
        setattr(shutdown, name, 0.0)
    with pytest.raises(AttributeError, match=f"'{name}'"):
        delattr(shutdown, name)
    assert getattr(shutdown, name) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"grace": -1}, ValueError, "grace must be a finite number of seconds >= 0"),
        ({"cancel_timeout": math.nan}, ValueError, "cancel_timeout"),
        ({"step_timeout": "5"}, TypeError, "step_timeout must be a number"),
        ({"drain_delay": math.inf}, ValueError, "drain_delay must be a finite"),
        ({"deadline": "30"}, TypeError, "deadline must be a number"),
        ({"body": "acceptor"}, ValueError, "body must be 'drain' or 'stop'"),
        ({"signals": [999]}, ValueError, "unknown signal number 999"),
        ({"signals": ["SIGTERM"]}, TypeError, "signal numbers such as signal.SIGTERM"),
        ({"signals": signal.SIGTERM}, TypeError, "iterable of signal numbers"),
        ({"signals": [signal.SIGKILL]}, ValueError, "SIGKILL cannot be caught"),
        ({"signal_api": "threads"}, ValueError, "'auto', 'loop' or 'signal'"),
        ({"logger": "x"}, TypeError, r"logging\.Logger"),
    ],
)
async def test_bad_arguments_say_what_was_expected(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        GracefulShutdown(**kwargs)  # type: ignore[arg-type]


async def test_bad_step_arguments_say_what_was_expected() -> None:
    async def close() -> None:
        pass

    async with GracefulShutdown(signals=()) as shutdown:
        with pytest.raises(TypeError, match=r"not conn\.close\(\)"):
            shutdown.push(close())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="name must be a str"):
            shutdown.push(close, name=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout must be a finite"):
            shutdown.push(close, timeout=-0.5)
        with pytest.raises(TypeError, match="reason must be a str"):
            shutdown.request(1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="drain must be a bool"):
            shutdown.spawn(close(), drain="no")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="name must be a str"):
            shutdown.inflight(name=7)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="on_stop"):
            shutdown.on_stop("runner.cleanup")  # type: ignore[type-var]


async def test_misuse_of_the_lifecycle_raises() -> None:
    shutdown = GracefulShutdown(signals=())
    with pytest.raises(RuntimeError, match="async with GracefulShutdown"):
        shutdown.request()
    with pytest.raises(RuntimeError, match="async with GracefulShutdown"):
        await shutdown.wait()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="async with GracefulShutdown"):
        shutdown.spawn(coro)
    assert coro.cr_frame is None
    async with shutdown:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with shutdown:
            pass


async def test_other_methods_refuse_other_threads() -> None:
    async with GracefulShutdown(signals=()) as shutdown:

        def spawn_from_a_thread() -> None:
            shutdown.spawn(asyncio.sleep(0))

        with pytest.raises(RuntimeError, match=r"request\(\) is the one"):
            await asyncio.to_thread(spawn_from_a_thread)


async def test_supervisor_and_shutdown_are_independent_objects() -> None:
    # A GracefulShutdown owns its own TaskSupervisor: a separate supervisor's
    # task is neither waited for nor cancelled by the shutdown.
    release = asyncio.Event()
    async with TaskSupervisor(grace=60) as supervisor:
        task = supervisor.spawn(release.wait(), name="independent")
        async with GracefulShutdown(signals=(), grace=60) as shutdown:
            pass
        assert shutdown.exit_status is ExitStatus.CLEAN
        assert not task.done()
        assert not supervisor.closing
        release.set()
    assert supervisor.report is not None
    assert supervisor.report.completed == ("independent",)
