"""aiocleanup.generators: the unclosed async generator hook."""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from aiocleanup import (
    UnclosedGeneratorHook,
    install_generator_hook,
    uninstall_generator_hook,
)

pytestmark = pytest.mark.asyncio

closed: list[str] = []


async def ticker() -> AsyncIterator[int]:
    try:
        yield 1
        yield 2
    finally:
        closed.append("ticker")


@contextmanager
def recorded() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def resource_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if w.category is ResourceWarning]


async def settle() -> None:
    """Let the loop run the aclose() tasks its finalizer scheduled."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_abandoned_generator_warns_with_its_name_and_the_fix() -> None:
    closed.clear()
    with recorded() as caught, UnclosedGeneratorHook():
        agen = ticker()
        await agen.__anext__()
        del agen
        await settle()
    [message] = resource_warnings(caught)
    assert "'ticker'" in message
    assert "aclose()" in message
    assert "contextlib.aclosing" in message
    assert "first iterated" not in message
    # The loop's own finalizer still ran and closed the generator.
    assert closed == ["ticker"]


async def test_capture_origin_names_where_it_was_first_iterated() -> None:
    with recorded() as caught, UnclosedGeneratorHook(capture_origin=True):
        agen = ticker()
        line = sys._getframe().f_lineno + 1
        await agen.__anext__()
        del agen
        await settle()
    [message] = resource_warnings(caught)
    assert f"first iterated at {__file__}:{line}" in message


async def test_generator_in_a_reference_cycle_warns_with_origin() -> None:
    with recorded() as caught, UnclosedGeneratorHook(capture_origin=True):
        agen = ticker()
        line = sys._getframe().f_lineno + 1
        await agen.__anext__()
        cycle: list[object] = [agen]
        cycle.append(cycle)
        del agen, cycle
        gc.collect()
        await settle()
    [message] = resource_warnings(caught)
    assert f"{__file__}:{line}" in message


async def test_finished_and_closed_generators_do_not_warn() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ValueError("boom")

    with recorded() as caught, UnclosedGeneratorHook(capture_origin=True):
        exhausted = ticker()
        async for _ in exhausted:
            pass
        closed_early = ticker()
        await closed_early.__anext__()
        await closed_early.aclose()
        closed_unstarted = ticker()
        await closed_unstarted.aclose()
        never_iterated = ticker()
        raised = failing()
        with pytest.raises(ValueError, match="boom"):
            async for _ in raised:
                pass
        del exhausted, closed_early, closed_unstarted, never_iterated, raised
        gc.collect()
        await settle()
    assert resource_warnings(caught) == []


async def test_removing_the_hook_restores_exactly_the_previous_hooks() -> None:
    before = sys.get_asyncgen_hooks()
    hook = UnclosedGeneratorHook(capture_origin=True)
    hook.install()
    assert hook.installed
    assert sys.get_asyncgen_hooks() != before
    hook.uninstall()
    assert not hook.installed
    after = sys.get_asyncgen_hooks()
    assert after.firstiter == before.firstiter
    assert after.finalizer == before.finalizer


async def test_chains_to_the_previous_hooks() -> None:
    seen: list[tuple[str, str]] = []
    loop_hooks = sys.get_asyncgen_hooks()

    def firstiter(agen: AsyncIterator[object]) -> None:
        seen.append(("firstiter", type(agen).__name__))
        assert loop_hooks.firstiter is not None
        loop_hooks.firstiter(agen)

    def finalizer(agen: AsyncIterator[object]) -> None:
        seen.append(("finalizer", type(agen).__name__))
        assert loop_hooks.finalizer is not None
        loop_hooks.finalizer(agen)

    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
    try:
        for capture_origin in (False, True):
            seen.clear()
            with recorded(), UnclosedGeneratorHook(capture_origin=capture_origin):
                agen = ticker()
                await agen.__anext__()
                del agen
                await settle()
            assert seen == [
                ("firstiter", "async_generator"),
                ("finalizer", "async_generator"),
            ]
        assert sys.get_asyncgen_hooks() == (firstiter, finalizer)
    finally:
        sys.set_asyncgen_hooks(*loop_hooks)


async def test_without_a_previous_finalizer_it_closes_the_generator_itself() -> None:
    closed.clear()
    loop_hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
    try:
        with recorded() as caught, UnclosedGeneratorHook():
            agen = ticker()
            await agen.__anext__()
            del agen
            await settle()
    finally:
        sys.set_asyncgen_hooks(*loop_hooks)
    assert len(resource_warnings(caught)) == 1
    assert closed == ["ticker"]


async def test_a_warning_turned_error_still_closes_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed.clear()
    unraisable: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(u.exc_value))
    with warnings.catch_warnings(), UnclosedGeneratorHook():
        warnings.simplefilter("error", ResourceWarning)
        agen = ticker()
        await agen.__anext__()
        del agen
        await settle()
    assert closed == ["ticker"]
    assert len(unraisable) == 1
    assert isinstance(unraisable[0], ResourceWarning)


async def test_generator_collected_after_uninstall_still_warns() -> None:
    with recorded() as caught:
        with UnclosedGeneratorHook():
            agen = ticker()
            await agen.__anext__()
        del agen
        await settle()
    assert len(resource_warnings(caught)) == 1


async def test_plain_functions_install_and_uninstall() -> None:
    before = sys.get_asyncgen_hooks()
    hook = install_generator_hook(capture_origin=True)
    assert hook.installed
    assert hook.capture_origin
    with recorded() as caught:
        agen = ticker()
        await agen.__anext__()
        del agen
        await settle()
    uninstall_generator_hook(hook)
    assert sys.get_asyncgen_hooks() == before
    assert len(resource_warnings(caught)) == 1


async def test_misuse_raises_clear_errors() -> None:
    hook = UnclosedGeneratorHook()
    with pytest.raises(RuntimeError, match="not installed"):
        hook.uninstall()
    hook.install()
    with pytest.raises(RuntimeError, match="already installed"):
        hook.install()
    loop_hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
    with pytest.raises(RuntimeError, match="reverse order"):
        hook.uninstall()
    sys.set_asyncgen_hooks(*loop_hooks)
    hook.uninstall()
    with pytest.raises(TypeError, match="capture_origin must be a bool"):
        UnclosedGeneratorHook(capture_origin="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="UnclosedGeneratorHook"):
        uninstall_generator_hook(object())  # type: ignore[arg-type]


async def test_installing_outside_a_running_loop_raises() -> None:
    # A thread without an event loop.
    with pytest.raises(RuntimeError, match="no running event loop"):
        await asyncio.to_thread(install_generator_hook)


async def test_many_generators_keep_the_origin_table_small() -> None:
    hook = UnclosedGeneratorHook(capture_origin=True)
    with hook:
        for _ in range(5000):
            async for _ in ticker():
                pass
        assert len(hook._origins) < 3000
