"""aiocleanup.tasks: TaskSupervisor."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
import warnings
import weakref
from typing import Any

import pytest

from aiocleanup import ShutdownReport, ShuttingDown, SupervisorClosedError, TaskSupervisor

pytestmark = pytest.mark.asyncio


async def sleep_then_return(seconds: float, value: object = None) -> object:
    await asyncio.sleep(seconds)
    return value


async def fail(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


async def ignore_cancellation(seconds: float) -> None:
    """Swallow every cancellation until *seconds* have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(deadline - time.monotonic())


async def test_spawned_tasks_are_kept_alive_and_complete() -> None:
    supervisor = TaskSupervisor()
    done = asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0.01)
        done.set()

    task_ref = weakref.ref(supervisor.spawn(work(), name="work"))
    gc.collect()
    assert task_ref() is not None
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0)  # the task ends right after setting the event
    report = await supervisor.shutdown(grace=1)
    assert report.clean
    assert report.completed_before_shutdown == 1


async def test_failure_is_logged_once_and_reported_never_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    try:
        supervisor = TaskSupervisor()
        with caplog.at_level(logging.ERROR, logger="aiocleanup"):
            failing = supervisor.spawn(fail("first"), name="failing")
            survivor = supervisor.spawn(sleep_then_return(0.05, "ok"))
            await asyncio.wait([failing])
            # One failure does not cancel the others.
            assert not survivor.done()
            report = await supervisor.shutdown(grace=2)
            del survivor, failing
            gc.collect()
    finally:
        loop.set_exception_handler(None)
    [failure] = report.failed
    assert failure.name == "failing"
    assert isinstance(failure.exception, ValueError)
    assert report.completed == ("sleep_then_return",)
    records = [r for r in caplog.records if r.name == "aiocleanup"]
    assert len(records) == 1
    assert "'failing'" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert contexts == []  # no "Task exception was never retrieved"


async def test_shutdown_phases_and_report() -> None:
    supervisor = TaskSupervisor()
    supervisor.spawn(sleep_then_return(0.01), name="quick")
    supervisor.spawn(sleep_then_return(60), name="slow")
    stubborn = supervisor.spawn(ignore_cancellation(0.6), name="stubborn")
    supervisor.spawn(fail("during grace"), name="broken")
    started = time.monotonic()
    report = await supervisor.shutdown(grace=0.1, cancel_timeout=0.1)
    elapsed = time.monotonic() - started
    # Bounded by grace + cancel_timeout, with room for a loaded machine.
    assert 0.15 <= elapsed < 10
    assert report.completed == ("quick",)
    assert [f.name for f in report.failed] == ["broken"]
    assert report.cancelled == ("slow",)
    assert report.ignored_cancellation == ("stubborn",)
    assert not report.clean
    assert supervisor.report is report
    assert "ignore_cancellation" in report.suspended_at[0]
    # The stubborn task is still referenced and finishes later.
    assert len(supervisor) == 1
    await asyncio.wait_for(stubborn, 10)
    await asyncio.sleep(0)  # the supervisor's done callback runs next
    assert len(supervisor) == 0


async def test_zero_timeouts_skip_the_waits() -> None:
    supervisor = TaskSupervisor()
    supervisor.spawn(sleep_then_return(60), name="slow")
    report = await supervisor.shutdown(grace=0, cancel_timeout=0)
    assert report.ignored_cancellation == ("slow",)
    for _ in range(2):  # one step to deliver the cancellation, one to report it
        await asyncio.sleep(0)
    assert len(supervisor) == 0


async def test_spawn_after_shutdown_began_raises_and_closes_the_coroutine() -> None:
    supervisor = TaskSupervisor()
    supervisor.spawn(sleep_then_return(0.05))
    shutdown = asyncio.ensure_future(supervisor.shutdown(grace=1))
    await asyncio.sleep(0)
    assert supervisor.closing
    coro = sleep_then_return(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SupervisorClosedError, match="shutting down"):
            supervisor.spawn(coro)
    assert coro.cr_frame is None  # closed, so no "never awaited" warning
    await shutdown


async def test_spawn_rejects_what_is_not_a_coroutine() -> None:
    supervisor = TaskSupervisor()
    with pytest.raises(TypeError, match=r"expected a coroutine object, such as worker\(\)"):
        supervisor.spawn(sleep_then_return)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="coroutine object"):
        supervisor.spawn(x for x in ())  # type: ignore[arg-type]
    coro = sleep_then_return(0)
    with pytest.raises(TypeError, match="name must be a str"):
        supervisor.spawn(coro, name=3)  # type: ignore[arg-type]
    assert coro.cr_frame is None


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (-1, ValueError, ">= 0"),
        (math.nan, ValueError, "finite"),
        (math.inf, ValueError, "finite"),
        ("1", TypeError, "number of seconds"),
        (True, TypeError, "number of seconds"),
        (None, TypeError, "number of seconds"),
    ],
)
async def test_bad_timeouts_are_rejected(value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=f"grace .*{match}"):
        TaskSupervisor(grace=value)  # type: ignore[arg-type]
    with pytest.raises(error, match=f"cancel_timeout .*{match}"):
        TaskSupervisor(cancel_timeout=value)  # type: ignore[arg-type]
    if value is not None:
        with pytest.raises(error, match=match):
            await TaskSupervisor().shutdown(grace=value)  # type: ignore[arg-type]


async def test_bad_logger_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"logging\.Logger"):
        TaskSupervisor(logger="aiocleanup")  # type: ignore[arg-type]


async def test_concurrent_shutdowns_share_one_report() -> None:
    supervisor = TaskSupervisor()
    supervisor.spawn(sleep_then_return(0.02))
    first, second = await asyncio.gather(supervisor.shutdown(grace=1), supervisor.shutdown(grace=1))
    assert first is second
    assert await supervisor.shutdown() is first


async def test_cancelling_the_shutdown_cancels_the_tasks_at_once() -> None:
    supervisor = TaskSupervisor()
    task = supervisor.spawn(sleep_then_return(60))
    shutdown = asyncio.ensure_future(supervisor.shutdown(grace=30))
    await asyncio.sleep(0)  # one step: the shutdown begins and waits
    assert supervisor.closing
    shutdown.cancel()
    with pytest.raises(asyncio.CancelledError):
        await shutdown
    await asyncio.sleep(0)
    assert task.cancelled()
    assert supervisor.report is not None


async def test_context_manager_shuts_down_on_exit() -> None:
    async with TaskSupervisor(grace=30, cancel_timeout=1) as supervisor:
        supervisor.spawn(sleep_then_return(0.02), name="quick")
    assert supervisor.report == ShutdownReport(
        completed=("quick",), failed=(), cancelled=(), ignored_cancellation=()
    )


async def test_context_manager_skips_the_grace_period_when_cancelled() -> None:
    supervisor = TaskSupervisor(grace=30, cancel_timeout=1)
    running = asyncio.Event()

    async def body() -> None:
        async with supervisor:
            supervisor.spawn(sleep_then_return(60), name="slow")
            running.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(body())
    await running.wait()
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 10
    assert supervisor.report is not None
    assert supervisor.report.cancelled == ("slow",)


async def test_context_manager_lets_the_body_exception_propagate() -> None:
    supervisor = TaskSupervisor(grace=30)

    async def body() -> None:
        async with supervisor:
            supervisor.spawn(sleep_then_return(0.01), name="quick")
            raise KeyError("body")

    with pytest.raises(KeyError):
        await body()
    assert supervisor.report is not None
    assert supervisor.report.completed == ("quick",)


async def test_ten_thousand_supervised_tasks() -> None:
    # Half finish as soon as the shutdown begins, half only when cancelled.
    # A fixed 0.05 s of work raced the grace period on a loaded machine;
    # waiting for an event does not, and grace=2 is plenty for it.
    release = asyncio.Event()

    async def finish_on_release() -> None:
        await release.wait()

    supervisor = TaskSupervisor()
    for index in range(10_000):
        supervisor.spawn(finish_on_release() if index % 2 else sleep_then_return(60))
    assert len(supervisor) == 10_000
    started = time.monotonic()
    shutting_down = asyncio.ensure_future(supervisor.shutdown(grace=2, cancel_timeout=30))
    release.set()
    report = await shutting_down
    assert time.monotonic() - started < 30
    assert len(report.completed) == 5_000
    assert len(report.cancelled) == 5_000
    assert report.ignored_cancellation == ()
    assert len(supervisor) == 0


async def test_background_loops_are_stopped_at_once_not_waited_for() -> None:
    async def heartbeat() -> None:
        while True:  # noqa: ASYNC110 - the periodic loop under test
            await asyncio.sleep(0.5)

    supervisor = TaskSupervisor(grace=60)
    supervisor.spawn(heartbeat(), name="heartbeat", drain=False)
    supervisor.spawn(sleep_then_return(0.01), name="job")
    started = time.monotonic()
    report = await supervisor.shutdown()
    assert time.monotonic() - started < 10
    assert report.stopped == ("heartbeat",)
    assert report.completed == ("job",)
    assert report.cancelled == ()
    assert report.clean


async def test_a_job_ended_by_shutting_down_is_refused_not_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    go = asyncio.Event()

    async def ends_with_shutting_down() -> None:
        await go.wait()
        raise ShuttingDown("received SIGTERM")

    supervisor = TaskSupervisor(grace=60)
    with caplog.at_level(logging.INFO, logger="aiocleanup"):
        supervisor.spawn(ends_with_shutting_down(), name="worker")
        supervisor.spawn(ends_with_shutting_down(), name="poller", drain=False)
        supervisor.close()  # the shutdown began, as GracefulShutdown does first
        go.set()
        report = await supervisor.shutdown()
    assert report.refused == ("worker",)
    assert report.stopped == ("poller",)
    assert report.failed == ()
    assert not report.clean
    [record] = [r for r in caplog.records if r.name == "aiocleanup"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "'worker' was refused new work and ended: shutting down (received SIGTERM)" in (
        record.getMessage()
    )


async def test_spawn_checks_drain() -> None:
    coro = sleep_then_return(0)
    with pytest.raises(TypeError, match="drain must be a bool"):
        TaskSupervisor().spawn(coro, drain=None)  # type: ignore[arg-type]
    assert coro.cr_frame is None
