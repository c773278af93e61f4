"""aiocleanup.testing: the leak checks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiocleanup.testing import LeakCheck, LeakError, assert_no_leaks


async def ticker() -> AsyncIterator[int]:
    yield 1
    yield 2


@pytest.mark.asyncio
async def test_a_clean_block_passes() -> None:
    async with assert_no_leaks() as check:
        task = asyncio.ensure_future(asyncio.sleep(0))
        await task
        async for _ in ticker():
            pass
    assert isinstance(check, LeakCheck)


@pytest.mark.asyncio
async def test_a_pending_task_is_named_and_cancelled() -> None:
    async def forgotten() -> None:
        await asyncio.sleep(60)

    task = asyncio.ensure_future(asyncio.sleep(0))

    async def leaky() -> None:
        nonlocal task
        async with assert_no_leaks():
            task = asyncio.ensure_future(forgotten())
            task.set_name("forgotten-task")
            await asyncio.sleep(0)

    with pytest.raises(LeakError) as caught:
        await leaky()
    [leak] = caught.value.leaks
    assert "task 'forgotten-task'" in leak
    assert "forgotten()" in leak
    assert f"{__file__}:" in leak
    assert "still pending" in leak
    assert task.cancelled()


@pytest.mark.asyncio
async def test_a_generator_left_to_the_collector_is_named_with_its_origin() -> None:
    line = 0

    async def leaky() -> None:
        nonlocal line
        async with assert_no_leaks():
            agen = ticker()
            line = sys._getframe().f_lineno + 1
            await agen.__anext__()
            del agen

    with pytest.raises(LeakError) as caught:
        await leaky()
    [leak] = caught.value.leaks
    assert "async generator 'ticker'" in leak
    assert f"first iterated at {__file__}:{line}" in leak
    assert "garbage collector" in leak


@pytest.mark.asyncio
async def test_a_generator_still_open_at_the_end_is_reported() -> None:
    agen = ticker()
    with pytest.raises(LeakError, match="still open") as caught:
        async with assert_no_leaks():
            await agen.__anext__()
    assert len(caught.value.leaks) == 1
    await agen.aclose()


@pytest.mark.asyncio
async def test_the_block_exception_wins_over_leaks() -> None:
    tasks: list[asyncio.Task[None]] = []

    async def failing() -> None:
        async with assert_no_leaks():
            tasks.append(asyncio.ensure_future(asyncio.sleep(60)))
            raise KeyError("body")

    with pytest.raises(KeyError):
        await failing()
    assert tasks[0].cancelled()


@pytest.mark.asyncio
async def test_the_fixture_from_a_conftest(no_leaks: LeakCheck) -> None:
    agen = ticker()
    async for _ in agen:
        pass
    await asyncio.sleep(0)


def test_the_plugin_fails_leaking_tests(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["aiocleanup.testing"]\n')
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            import pytest

            async def numbers():
                yield 1
                yield 2

            @pytest.mark.asyncio
            async def test_clean(no_leaks):
                async for _ in numbers():
                    pass

            @pytest.mark.asyncio
            async def test_leaks_a_task(no_leaks):
                asyncio.ensure_future(asyncio.sleep(60)).set_name("sleeper")

            @pytest.mark.asyncio
            async def test_leaks_a_generator(no_leaks):
                agen = numbers()
                await agen.__anext__()
                del agen
            """
        )
    )
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    assert "3 passed, 2 errors" in output, output
    assert "PASSED test_inner.py::test_clean" in output, output
    assert "task 'sleeper'" in output, output
    assert "async generator 'numbers' (first iterated at" in output, output
    assert "test_inner.py:21)" in output, output
