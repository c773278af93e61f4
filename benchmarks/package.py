"""Benchmarks for the package budgets of DESIGN §9.

Each benchmark runs the baseline from ``baselines.py`` and the aiocleanup
candidate alternately, several times, in one process run, and reports the
median of each. The ratio is candidate / baseline; lower is better.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baselines import (
    BARE_SERVICE,
    SERVICES,
    cancel_and_gather,
    generator_lifecycles,
)

from aiocleanup import TaskSupervisor, UnclosedGeneratorHook

TASKS = 10_000
GENERATORS = 100_000


def row(
    name: str, baseline: list[float], candidate: list[float], budget: float, unit: str
) -> dict[str, Any]:
    measured = statistics.median(candidate)
    base = statistics.median(baseline)
    ratio = measured / base
    return {
        "name": name,
        "measured": measured,
        "baseline": base,
        "ratio": ratio,
        "budget": budget,
        "unit": unit,
        "passed": ratio <= budget,
        "runs": len(candidate),
    }


def alternate(
    rounds: int, baseline: Callable[[], float], candidate: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Run both *rounds* times, alternating which goes first."""
    base_times: list[float] = []
    cand_times: list[float] = []
    for index in range(rounds):
        pair = [(baseline, base_times), (candidate, cand_times)]
        if index % 2:
            pair.reverse()
        for run, times in pair:
            times.append(run())
    return base_times, cand_times


# 1. TaskSupervisor.shutdown of 10,000 tasks vs cancel-and-gather.


async def _sleep_forever() -> None:
    await asyncio.sleep(3600)


async def _time_cancel_and_gather() -> float:
    tasks = [asyncio.create_task(_sleep_forever()) for _ in range(TASKS)]
    await asyncio.sleep(0)  # let every task start and suspend
    gc.collect()
    started = time.perf_counter()
    await cancel_and_gather(tasks)
    return time.perf_counter() - started


async def _time_supervisor_shutdown() -> float:
    supervisor = TaskSupervisor()
    for _ in range(TASKS):
        supervisor.spawn(_sleep_forever())
    await asyncio.sleep(0)
    gc.collect()
    started = time.perf_counter()
    report = await supervisor.shutdown(grace=0, cancel_timeout=60)
    elapsed = time.perf_counter() - started
    assert len(report.cancelled) == TASKS
    return elapsed


def bench_supervisor_shutdown(rounds: int = 9) -> dict[str, Any]:
    base, cand = alternate(
        rounds,
        lambda: asyncio.run(_time_cancel_and_gather()),
        lambda: asyncio.run(_time_supervisor_shutdown()),
    )
    return row(
        f"TaskSupervisor.shutdown(grace=0), {TASKS:,} tasks vs cancel + gather",
        base,
        cand,
        1.3,
        "s",
    )


# 2. The unclosed-generator hook vs the loop's own hooks.


async def _time_lifecycles_in_chunks(chunks: int) -> tuple[float, float]:
    """Time GENERATORS lifecycles each way, alternating chunk by chunk.

    Alternating within one loop run puts both sides under the same machine
    load, which matters more here than anywhere: the difference measured is
    small and a busy machine is not.
    """
    chunk = GENERATORS // chunks
    hook = UnclosedGeneratorHook()
    baseline = candidate = 0.0
    for index in range(chunks):
        for with_hook in (False, True) if index % 2 else (True, False):
            started = time.perf_counter()
            if with_hook:
                hook.install()
                await generator_lifecycles(chunk)
                hook.uninstall()
                candidate += time.perf_counter() - started
            else:
                await generator_lifecycles(chunk)
                baseline += time.perf_counter() - started
    return baseline, candidate


def bench_generator_hook(rounds: int = 5, chunks: int = 50) -> dict[str, Any]:
    base: list[float] = []
    cand: list[float] = []
    for _ in range(rounds):
        gc.collect()
        baseline, candidate = asyncio.run(_time_lifecycles_in_chunks(chunks))
        base.append(baseline)
        cand.append(candidate)
    return row(
        f"UnclosedGeneratorHook, {GENERATORS:,} async generator lifecycles vs the loop's own hooks",
        base,
        cand,
        1.15,
        "s",
    )


# 3. SIGTERM to exit: aiocleanup.run() vs a bare asyncio program.

# The candidate's body only waits for work: it declares the acceptor's role,
# so the shutdown stops it instead of draining it for the grace period.
GRACEFUL_SERVICE = SERVICES / "graceful_stop.py"


# Let the services cache their bytecode, as a deployed service does; without
# it every start compiles aiocleanup, and the compiler's leftovers make the
# process slower to exit.
_SERVICE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time_sigterm_to_exit(script: Path) -> float:
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_SERVICE_ENV,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line != b"ready\n":
            raise RuntimeError(f"{script.name} did not start: {line!r}")
        # wait() with a timeout polls with growing sleeps, which would round
        # the measurement; block instead, with a watchdog to stay bounded.
        watchdog = threading.Timer(30, process.kill)
        watchdog.start()
        started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        status = process.wait()
        elapsed = time.perf_counter() - started
        watchdog.cancel()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    if status != 0:
        raise RuntimeError(f"{script.name} exited with status {status}")
    return elapsed


def bench_sigterm_to_exit(rounds: int = 21) -> dict[str, Any]:
    for script in (BARE_SERVICE, GRACEFUL_SERVICE):  # warm-up, not measured
        _time_sigterm_to_exit(script)
    base, cand = alternate(
        rounds,
        lambda: _time_sigterm_to_exit(BARE_SERVICE),
        lambda: _time_sigterm_to_exit(GRACEFUL_SERVICE),
    )
    return row(
        "SIGTERM to exit, aiocleanup.run() service with nothing in flight vs bare asyncio",
        base,
        cand,
        1.2,
        "s",
    )


def measure() -> list[dict[str, Any]]:
    """Run the package benchmarks; one row per budget."""
    return [
        bench_supervisor_shutdown(),
        bench_generator_hook(),
        bench_sigterm_to_exit(),
    ]
