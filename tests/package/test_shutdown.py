"""aiocleanup.shutdown: GracefulShutdown in-process, including the fault matrix."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import time
from collections.abc import Callable

import pytest

from aiocleanup import (
    ExitStatus,
    GracefulShutdown,
    ShutdownResult,
    ShuttingDown,
    TaskSupervisor,
    run,
)

pytestmark = pytest.mark.asyncio

SIG = signal.SIGUSR1


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def send(sig: signal.Signals = SIG) -> None:
    os.kill(os.getpid(), sig)


def result_of(shutdown: GracefulShutdown) -> ShutdownResult:
    assert shutdown.result is not None
    return shutdown.result


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
        asyncio.get_running_loop().call_soon(shutdown.request, "test")
        assert await shutdown.wait() == "test"
        assert shutdown.requested
    assert ran == ["last", "async", "first"]
    result = result_of(shutdown)
    assert result.reason == "test"
    assert result.steps == ("last", async_step.__qualname__, "first")
    assert result.exit_status is ExitStatus.CLEAN == 0
    assert shutdown.exit_status == 0
    assert result.drained
    assert not result.forced
    assert result.cut_off == 0


async def test_leaving_the_block_shuts_down(no_leaks: object) -> None:
    async with GracefulShutdown(signals=()) as shutdown:
        pass
    assert result_of(shutdown).reason == "the service body returned"
    assert shutdown.exit_status is ExitStatus.CLEAN


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

    async def hangs() -> None:
        await asyncio.sleep(60)

    release = asyncio.Event()

    async def hangs_and_ignores_cancellation() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    started = time.monotonic()
    async with GracefulShutdown(signals=(), cancel_timeout=0.1) as shutdown:
        shutdown.push(lambda: ran.append("first"), name="first")
        shutdown.push(hangs, name="hangs", timeout=0.1)
        stubborn = shutdown.push(hangs_and_ignores_cancellation, name="stubborn", timeout=0.1)
        shutdown.push(lambda: ran.append("last"), name="last")
    elapsed = time.monotonic() - started
    result = result_of(shutdown)
    assert ran == ["last", "first"]
    assert [f.name for f in result.step_failures] == ["stubborn", "hangs"]
    assert all(isinstance(f.exception, TimeoutError) for f in result.step_failures)
    assert "within 0.1 seconds" in str(result.step_failures[0].exception)
    # Bounded: per step, its timeout plus cancel_timeout.
    assert elapsed < 0.2 + 0.2 + 0.5
    assert stubborn is hangs_and_ignores_cancellation
    release.set()
    await asyncio.sleep(0.01)


async def test_a_task_that_ignores_cancellation_is_reported_and_bounded() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=0.1, cancel_timeout=0.1) as shutdown:
        shutdown.spawn(stubborn(), name="stubborn")
    elapsed = time.monotonic() - started
    result = result_of(shutdown)
    assert result.tasks.ignored_cancellation == ("stubborn",)
    assert not result.drained
    assert result.cut_off == 1
    assert result.exit_status is ExitStatus.CUT_OFF == 3
    assert 0.2 <= elapsed < 0.6
    release.set()
    await asyncio.sleep(0.01)


async def test_a_second_signal_during_the_drain_skips_to_cancellation(
    fallback_handlers: dict[int, int],
) -> None:
    cancelled = asyncio.Event()

    async def long_work(shutdown: GracefulShutdown) -> None:
        try:
            async with shutdown.inflight():
                await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def send_twice(shutdown: GracefulShutdown) -> None:
        send()
        await until(lambda: shutdown.draining)
        send()

    started = time.monotonic()
    async with GracefulShutdown(signals=(SIG,), grace=30) as shutdown:
        shutdown.spawn(long_work(shutdown))
        await asyncio.sleep(0.01)
        signaller = asyncio.ensure_future(send_twice(shutdown))
        await asyncio.sleep(60)  # the acceptor; cancelled by the first signal
    assert time.monotonic() - started < 2
    await signaller
    result = result_of(shutdown)
    assert result.forced
    assert not result.drained
    assert result.reason == "received SIGUSR1"
    assert result.cut_off == 1
    assert cancelled.is_set()
    assert result.exit_status is ExitStatus.CUT_OFF
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


async def test_ten_thousand_inflight_units_are_drained() -> None:
    finished = 0

    async def unit(shutdown: GracefulShutdown) -> None:
        nonlocal finished
        async with shutdown.inflight():
            await asyncio.sleep(0.05)
            finished += 1

    async with GracefulShutdown(signals=(), grace=5) as shutdown:
        workers = [asyncio.ensure_future(unit(shutdown)) for _ in range(10_000)]
        await asyncio.sleep(0)
        assert shutdown.inflight_count == 10_000
        shutdown.request("test")
    assert finished == 10_000
    result = result_of(shutdown)
    assert result.drained
    assert result.cut_off == 0
    assert result.exit_status is ExitStatus.CLEAN
    assert shutdown.inflight_count == 0
    await asyncio.gather(*workers)


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
    async with GracefulShutdown(signals=(SIG,), signal_api="signal") as shutdown:
        handler = signal.getsignal(SIG)
        assert callable(handler)
        assert getattr(handler, "__func__", None) is GracefulShutdown._fallback_handler
        send()
        assert await asyncio.wait_for(shutdown.wait(), 5) == "received SIGUSR1"
    assert signal.getsignal(SIG) is before
    assert fallback_handlers[SIG] == 0


async def test_the_loop_signal_path_when_asked_for(
    fallback_handlers: dict[int, int],
) -> None:
    counting_handler = signal.getsignal(SIG)
    async with GracefulShutdown(signals=(SIG,), signal_api="loop") as shutdown:
        assert signal.getsignal(SIG) is not counting_handler
        send()
        await asyncio.wait_for(shutdown.wait(), 5)
    assert fallback_handlers[SIG] == 0


async def test_new_work_is_refused_once_shutdown_was_requested() -> None:
    entered = asyncio.Event()
    refused: list[ShuttingDown] = []

    async def handler(shutdown: GracefulShutdown) -> None:
        async with shutdown.inflight():
            entered.set()
            await asyncio.sleep(0.05)
        try:
            async with shutdown.inflight():
                pass
        except ShuttingDown as error:
            refused.append(error)

    async with GracefulShutdown(signals=(), grace=5) as shutdown:
        shutdown.spawn(handler(shutdown))
        await entered.wait()
        shutdown.request("maintenance")
        coro = asyncio.sleep(0)
        with pytest.raises(ShuttingDown, match="maintenance"):
            shutdown.spawn(coro)
        with pytest.raises(ShuttingDown):
            async with shutdown.inflight():
                pass
        await shutdown.wait()
        await until(lambda: bool(refused))
    assert refused[0].reason == "maintenance"
    with pytest.raises(ShuttingDown):
        shutdown.push(lambda: None)
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_the_body_is_cancelled_after_its_inflight_unit() -> None:
    log: list[str] = []
    started = time.monotonic()
    async with GracefulShutdown(signals=(), grace=5) as shutdown:
        asyncio.get_running_loop().call_later(0.02, shutdown.request, "test")
        async with shutdown.inflight():
            await asyncio.sleep(0.1)
            log.append("unit finished")
        try:
            await asyncio.sleep(60)  # the acceptor, waiting for the next job
        except asyncio.CancelledError:
            log.append("body cancelled")
            raise
    assert time.monotonic() - started < 2
    assert log == ["unit finished", "body cancelled"]
    assert result_of(shutdown).exit_status is ExitStatus.CLEAN


async def test_a_unit_cut_off_in_the_body_counts_once() -> None:
    async with GracefulShutdown(signals=(), grace=0.05, cancel_timeout=1) as shutdown:
        asyncio.get_running_loop().call_later(0.01, shutdown.request, "test")
        async with shutdown.inflight():
            await asyncio.sleep(60)  # a job longer than the grace period
    result = result_of(shutdown)
    assert result.cut_off == 1
    assert result.exit_status is ExitStatus.CUT_OFF


async def test_a_body_that_watches_for_the_request_is_not_cancelled() -> None:
    log: list[str] = []
    async with GracefulShutdown(signals=(), grace=5) as shutdown:
        asyncio.get_running_loop().call_soon(shutdown.request, "test")
        await shutdown.wait()
        await asyncio.sleep(0.02)  # e.g. server.wait_closed()
        log.append("body finished its own shutdown")
    assert log == ["body finished its own shutdown"]


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
    assert result_of(shutdown).reason == "the service body raised ZeroDivisionError"


async def test_cancelling_the_body_from_outside_skips_the_drain() -> None:
    shutdown = GracefulShutdown(signals=(), grace=30)

    async def service() -> None:
        async with shutdown:
            shutdown.spawn(asyncio.sleep(60), name="work")
            await asyncio.sleep(60)

    task = asyncio.ensure_future(service())
    await asyncio.sleep(0.01)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    result = result_of(shutdown)
    assert result.forced
    assert result.tasks.cancelled == ("work",)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"grace": -1}, ValueError, "grace must be a finite number of seconds >= 0"),
        ({"cancel_timeout": math.nan}, ValueError, "cancel_timeout"),
        ({"step_timeout": "5"}, TypeError, "step_timeout must be a number"),
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

    shutdown = GracefulShutdown(signals=())
    with pytest.raises(TypeError, match=r"not conn\.close\(\)"):
        shutdown.push(close())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be a str"):
        shutdown.push(close, name=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be a finite"):
        shutdown.push(close, timeout=-0.5)
    with pytest.raises(TypeError, match="reason must be a str"):
        shutdown.request(1)  # type: ignore[arg-type]


async def test_misuse_of_the_lifecycle_raises() -> None:
    shutdown = GracefulShutdown(signals=())
    with pytest.raises(RuntimeError, match="async with GracefulShutdown"):
        shutdown.request()
    with pytest.raises(RuntimeError, match="async with GracefulShutdown"):
        await shutdown.wait()
    async with shutdown:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with shutdown:
            pass


async def test_signals_outside_the_main_thread_are_refused() -> None:
    async def in_thread() -> None:
        async with GracefulShutdown(signals=(SIG,)):
            pass

    with pytest.raises(RuntimeError, match="main thread"):
        await asyncio.to_thread(asyncio.run, in_thread())


async def test_spawned_task_failure_is_reported_but_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise ValueError("bad")

    with caplog.at_level(logging.ERROR, logger="aiocleanup"):
        async with GracefulShutdown(signals=()) as shutdown:
            shutdown.spawn(broken(), name="broken")
            await asyncio.sleep(0.01)
    result = result_of(shutdown)
    assert [f.name for f in result.tasks.failed] == ["broken"]
    assert result.exit_status is ExitStatus.CLEAN


async def test_run_refuses_a_running_loop_and_a_coroutine_object() -> None:
    async def main(shutdown: GracefulShutdown) -> None:
        pass

    with pytest.raises(RuntimeError, match="running event loop"):
        run(main, signals=())
    coro = main(GracefulShutdown())
    with pytest.raises(TypeError, match=r"such as main \(not main\(\)\)"):
        run(coro, signals=())  # type: ignore[arg-type]
    assert coro.cr_frame is None


def run_in_thread_free_loop(main: Callable[..., object], **kwargs: object) -> object:
    return run(main, signals=(), **kwargs)  # type: ignore[arg-type]


async def test_run_returns_the_exit_status() -> None:
    async def clean(shutdown: GracefulShutdown) -> None:
        shutdown.push(lambda: None)

    async def cut_off(shutdown: GracefulShutdown) -> None:
        shutdown.spawn(asyncio.sleep(60))

    async def stubborn(shutdown: GracefulShutdown) -> None:
        async def ignore() -> None:
            for _ in range(1000):
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(60)

        # Left behind on purpose: run() must not hang on it.
        shutdown.left_behind = asyncio.ensure_future(ignore())  # type: ignore[attr-defined]

    async def fails(shutdown: GracefulShutdown) -> None:
        raise LookupError("main failed")

    assert await asyncio.to_thread(run_in_thread_free_loop, clean) == 0
    assert (
        await asyncio.to_thread(run_in_thread_free_loop, cut_off, grace=0.05) == ExitStatus.CUT_OFF
    )
    started = time.monotonic()
    assert (
        await asyncio.to_thread(run_in_thread_free_loop, stubborn, cancel_timeout=0.1)
        == ExitStatus.CLEAN
    )
    assert time.monotonic() - started < 2
    with pytest.raises(LookupError):
        await asyncio.to_thread(run_in_thread_free_loop, fails)


async def test_supervisor_and_shutdown_are_independent_objects() -> None:
    # GracefulShutdown owns its own TaskSupervisor; a separate one is unaffected.
    async with TaskSupervisor() as supervisor, GracefulShutdown(signals=()) as sd:
        task = supervisor.spawn(asyncio.sleep(0.01))
    assert sd.exit_status is ExitStatus.CLEAN
    assert task.done()


async def test_a_signal_after_the_drain_does_not_count_as_forced(
    fallback_handlers: dict[int, int],
) -> None:
    async with GracefulShutdown(signals=(SIG,)) as shutdown:
        shutdown.push(send, name="signal during cleanup")
        shutdown.request("test")
        await shutdown.wait()
    await asyncio.sleep(0.01)
    result = result_of(shutdown)
    assert not result.forced
    assert result.exit_status is ExitStatus.CLEAN
    # It reached GracefulShutdown's handler, not the test's.
    assert fallback_handlers[SIG] == 0
