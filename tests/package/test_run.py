"""aiocleanup.run() in-process: its arguments, its result and closing the loop.

Each call runs in a thread of its own, as run() must not find a running
loop; signals=() keeps it away from the test run's signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from aiocleanup import ExitStatus, GracefulShutdown, ShutdownResult, run

pytestmark = pytest.mark.asyncio


def run_without_signals(main: Callable[..., Any], **kwargs: Any) -> ShutdownResult:
    return run(main, signals=(), **kwargs)


async def test_run_refuses_a_running_loop_and_a_coroutine_object() -> None:
    async def main(shutdown: GracefulShutdown) -> None:
        pass

    with pytest.raises(RuntimeError, match="running event loop"):
        run(main, signals=())
    coro = main(GracefulShutdown())
    with pytest.raises(TypeError, match=r"pass main, not main\(\)"):
        run(coro, signals=())  # type: ignore[arg-type]
    assert coro.cr_frame is None


async def test_run_says_what_it_expected_of_main() -> None:
    async def no_parameter() -> None:
        pass

    with pytest.raises(TypeError, match=r"takes one argument, the GracefulShutdown") as caught:
        await asyncio.to_thread(run_without_signals, no_parameter)
    assert "no_parameter() cannot be called with one" in str(caught.value)
    with pytest.raises(TypeError, match=r"returned NoneType, which cannot be awaited"):
        await asyncio.to_thread(run_without_signals, lambda shutdown: None)


async def test_run_returns_the_result_usable_as_the_exit_status() -> None:
    async def clean(shutdown: GracefulShutdown) -> None:
        shutdown.push(lambda: None, name="cache")

    async def cut_off(shutdown: GracefulShutdown) -> None:
        shutdown.spawn(asyncio.sleep(60), name="export")

    async def fails(shutdown: GracefulShutdown) -> None:
        raise LookupError("main failed")

    result = await asyncio.to_thread(run_without_signals, clean)
    assert isinstance(result, ShutdownResult)
    assert result == 0
    assert result.status is ExitStatus.CLEAN
    assert result.steps == ("cache",)
    with pytest.raises(SystemExit) as exiting:
        raise SystemExit(result)
    assert exiting.value.code == 0
    result = await asyncio.to_thread(run_without_signals, cut_off, grace=0.05)
    assert result == ExitStatus.CUT_OFF == 3
    assert "cut off: job 'export'" in result.report
    with pytest.raises(LookupError):
        await asyncio.to_thread(run_without_signals, fails)


async def test_run_does_not_hang_on_a_task_it_does_not_know() -> None:
    async def stubborn(shutdown: GracefulShutdown) -> None:
        async def ignore() -> None:
            for _ in range(1000):
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(60)

        # Left behind on purpose: run() must not hang on it.
        shutdown.left_behind = asyncio.ensure_future(ignore())  # type: ignore[attr-defined]

    started = time.monotonic()
    result = await asyncio.to_thread(run_without_signals, stubborn, cancel_timeout=0.1)
    assert result.status is ExitStatus.CLEAN
    assert time.monotonic() - started < 10


async def test_run_uses_the_loop_factory() -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    seen: list[asyncio.AbstractEventLoop] = []

    def factory() -> asyncio.AbstractEventLoop:
        loops.append(asyncio.new_event_loop())
        return loops[-1]

    async def main(shutdown: GracefulShutdown) -> None:
        seen.append(asyncio.get_running_loop())

    result = await asyncio.to_thread(run_without_signals, main, loop_factory=factory)
    assert result.status is ExitStatus.CLEAN
    assert seen == loops
    assert loops[0].is_closed()
    with pytest.raises(TypeError, match="loop_factory must be a callable"):
        run(main, signals=(), loop_factory="uvloop")  # type: ignore[arg-type]


async def test_run_bounds_a_thread_job_that_outlives_the_shutdown() -> None:
    # The loop is closed without joining the executor's thread in it:
    # asyncio's own shutdown_default_executor() does, unbounded, on 3.10-3.12.
    release = __import__("threading").Event()

    async def main(shutdown: GracefulShutdown) -> None:
        async def job() -> None:
            async with shutdown.inflight(name="thread job"):
                await asyncio.to_thread(release.wait, 60)

        shutdown.spawn(job(), name="job")
        await asyncio.sleep(0)

    started = time.monotonic()
    try:
        result = await asyncio.to_thread(
            run_without_signals, main, grace=0.1, cancel_timeout=0.1, deadline=60
        )
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert elapsed < 10
    assert result.status is ExitStatus.CUT_OFF
    assert ("cut off", "unit", "thread job") in [
        (item.outcome, item.kind, item.name) for item in result.unfinished
    ]
