"""The hand-written code each package benchmark is compared with.

Each baseline is what you would write without aiocleanup; the candidate in
``package.py`` runs the same workload through the package.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path


async def cancel_and_gather(tasks: list[asyncio.Task[None]]) -> None:
    """Baseline for ``TaskSupervisor.shutdown``: cancel all, gather all."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def numbers() -> AsyncGenerator[int, None]:
    yield 1
    yield 2
    yield 3


async def generator_lifecycles(count: int) -> None:
    """The async generator workload, run with and without the hook.

    Half of the generators are exhausted, half are closed early with
    ``contextlib.aclosing``: the lifecycles of correct code, which the hook
    must not slow down. The baseline runs it under the loop's own hooks only.
    """
    for index in range(count):
        if index % 2:
            async for _ in numbers():
                pass
        else:
            async with aclosing(numbers()) as agen:
                async for _ in agen:
                    break


SERVICES = Path(__file__).parent / "services"
# Baseline for the SIGTERM-to-exit benchmark: a bare asyncio program that
# cancels its main task on SIGTERM.
BARE_SERVICE = SERVICES / "bare_asyncio.py"
# The candidate: the same service run by aiocleanup.run().
GRACEFUL_SERVICE = SERVICES / "graceful.py"
