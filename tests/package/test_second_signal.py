"""A second signal that arrives once the service body has returned.

The usual body waits for the shutdown and returns (``await shutdown.wait()``,
or the integrations' ``serve()``), while the jobs and in-flight units it
started still drain. A second SIGTERM sent during that drain, from another
process, is the operator asking to skip it; only a signal that was raised
before the body returned, and that the loop had not seen yet, is one a
framework handed on (uvicorn raises the signal it captured again right
before ``serve()`` returns).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import pytest

from aiocleanup import ExitStatus, GracefulShutdown, run

SIG = signal.SIGUSR1
PROMPTLY = 10.0


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def send() -> None:
    os.kill(os.getpid(), SIG)


@pytest.mark.asyncio
async def test_a_second_signal_during_the_drain_after_the_body_returned_skips_it(
    fallback_handlers: dict[int, int],
) -> None:
    returned = False

    async def send_again_once_the_body_returned() -> None:
        await until(lambda: returned)
        await asyncio.sleep(0.05)  # a while later, from the operator
        send()

    started = time.monotonic()
    async with GracefulShutdown(signals=(SIG,), grace=60) as shutdown:
        shutdown.spawn(asyncio.sleep(60), name="job")
        operator = asyncio.ensure_future(send_again_once_the_body_returned())
        send()
        await shutdown.wait()
        returned = True
    await operator
    assert time.monotonic() - started < PROMPTLY
    result = shutdown.result
    assert result is not None
    assert result.forced
    assert result.exit_status is ExitStatus.CUT_OFF
    assert [(item.outcome, item.name) for item in result.unfinished] == [("cut off", "job")]
    assert fallback_handlers[SIG] == 0


def test_a_signal_while_run_closes_the_loop_does_not_reach_the_previous_handler(
    fallback_handlers: dict[int, int],
) -> None:
    async def main(shutdown: GracefulShutdown) -> None:
        async def left_behind() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                send()  # the operator's second signal, while run() closes the loop
                await asyncio.sleep(0.05)
                raise

        # Not spawned: run() cancels it while closing the loop.
        shutdown.left_behind = asyncio.ensure_future(left_behind())  # type: ignore[attr-defined]

    result = run(main, signals=(SIG,), cancel_timeout=1.0)
    assert result.exit_status is ExitStatus.CLEAN
    assert fallback_handlers[SIG] == 0
