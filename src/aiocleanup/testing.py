"""pytest helpers that fail a test which leaks tasks or async generators.

Two ways to use them:

* the ``no_leaks`` fixture, registered by adding
  ``pytest_plugins = ["aiocleanup.testing"]`` to your ``conftest.py``
  (needs pytest-asyncio)::

      @pytest.mark.asyncio
      async def test_handler(no_leaks):
          await handle_one_request()

* the :func:`assert_no_leaks` async context manager, inside any coroutine::

      async def test_handler():
          async with assert_no_leaks():
              await handle_one_request()

Both report, by name, every task created inside and still pending at the
end, every async generator first iterated inside and left to the garbage
collector, and every such generator that is still open (neither exhausted
nor closed) at the end.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from types import AsyncGeneratorType, TracebackType
from typing import Any, cast

from .generators import AnyAsyncGen, Origin, UnclosedGeneratorHook, first_iterated_at

__all__ = ["LeakCheck", "LeakError", "assert_no_leaks"]

# How long leaked tasks get to react to cancellation before the check reports.
_CANCEL_LEAKED_TIMEOUT = 1.0


class LeakError(AssertionError):
    """A test left tasks pending or async generators unclosed.

    Attributes:
        leaks: one description per leaked task or generator.
    """

    def __init__(self, leaks: list[str]) -> None:
        lines = "\n".join(f"  - {leak}" for leak in leaks)
        super().__init__(f"{len(leaks)} leak(s) found:\n{lines}")
        self.leaks = tuple(leaks)


class _RecordingHook(UnclosedGeneratorHook):
    """The generator hook, recording leaks instead of warning about them."""

    def __init__(self) -> None:
        super().__init__(capture_origin=True)
        self.collected: list[str] = []

    def _report_unclosed(self, agen: AnyAsyncGen, origin: Origin | None) -> None:
        self.collected.append(
            f"async generator {_qualname(agen)!r}{first_iterated_at(origin)} was left to the "
            "garbage collector; close it with aclose() or contextlib.aclosing()"
        )

    def still_open(self) -> list[str]:
        leaks = []
        for ref, origin in list(self._origins.values()):
            agen = cast("AsyncGeneratorType[Any, Any] | None", ref())
            if agen is not None and agen.ag_frame is not None:
                leaks.append(
                    f"async generator {agen.__qualname__!r}{first_iterated_at(origin)} is still "
                    "open (neither exhausted nor closed)"
                )
        return leaks


class LeakCheck:
    """Look for leaks between :meth:`start` and :meth:`finish`.

    :func:`assert_no_leaks` and the ``no_leaks`` fixture are built on it.

    With ``patch_loop=True`` the generator hook is installed by replacing the
    running loop's own hook methods, so that it stays in place across
    separate ``run_until_complete`` calls (as pytest-asyncio makes for a
    fixture and its test). Loops that do not allow this (such as uvloop's)
    get only the task check.
    """

    def __init__(self, *, patch_loop: bool = False) -> None:
        self._patch_loop = patch_loop
        self._hook = _RecordingHook()
        self._tasks_before: set[asyncio.Task[Any]] = set()
        self._patched: asyncio.AbstractEventLoop | None = None
        self._generators_checked = False

    async def start(self) -> None:
        """Remember the current tasks and start watching async generators.

        Raises:
            RuntimeError: if no event loop is running.
        """
        loop = asyncio.get_running_loop()
        self._tasks_before = asyncio.all_tasks(loop)
        if self._patch_loop:
            self._generators_checked = self._patch_loop_hooks(loop)
        else:
            self._hook.install()
            self._generators_checked = True

    async def finish(self, *, raise_on_leak: bool = True) -> list[str]:
        """Stop watching, cancel leaked tasks and report what leaked.

        On timeout: leaked tasks are cancelled and given one second to end;
        the check does not wait longer.

        On cancellation: ``CancelledError`` propagates; the hook is still
        removed.

        Raises:
            LeakError: if something leaked and *raise_on_leak* is true.
        """
        loop = asyncio.get_running_loop()
        try:
            # Let generators that are garbage by now be finalized, and their
            # aclose() tasks, scheduled by the loop, run.
            gc.collect()
            for _ in range(3):
                await asyncio.sleep(0)
            leaked_tasks = [
                task
                for task in asyncio.all_tasks(loop)
                if task not in self._tasks_before
                and task is not asyncio.current_task()
                and not task.done()
            ]
            leaks = [_describe_task(task) for task in leaked_tasks]
            if self._generators_checked:
                leaks += self._hook.collected + self._hook.still_open()
            for task in leaked_tasks:
                task.cancel()
            if leaked_tasks:
                await asyncio.wait(leaked_tasks, timeout=_CANCEL_LEAKED_TIMEOUT)
        finally:
            self._unhook(loop)
        if leaks and raise_on_leak:
            raise LeakError(leaks)
        return leaks

    def _patch_loop_hooks(self, loop: asyncio.AbstractEventLoop) -> bool:
        previous_firstiter = getattr(loop, "_asyncgen_firstiter_hook", None)
        previous_finalizer = getattr(loop, "_asyncgen_finalizer_hook", None)
        if previous_firstiter is None or previous_finalizer is None:
            return False
        try:
            # run_forever() installs whatever these attributes hold.
            loop._asyncgen_firstiter_hook = self._hook._chain_firstiter(  # type: ignore[attr-defined]
                previous_firstiter
            )
            loop._asyncgen_finalizer_hook = self._hook._chain_finalizer(  # type: ignore[attr-defined]
                previous_finalizer, loop
            )
        except AttributeError:
            return False
        self._patched = loop
        return True

    def _unhook(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._patched is not None:
            for name in ("_asyncgen_firstiter_hook", "_asyncgen_finalizer_hook"):
                vars(self._patched).pop(name, None)
            self._patched = None
        elif self._hook.installed:
            self._hook.uninstall()


class assert_no_leaks:  # lower case: used like a function, as contextlib's are
    """Fail with :class:`LeakError` if the block leaks tasks or generators.

    ::

        async with assert_no_leaks():
            await code_under_test()

    On exit it collects garbage, lets the loop run three iterations so that
    work that is just finishing can finish, then reports every task created
    inside the block that is still pending, and every async generator first
    iterated inside it that was left to the garbage collector or is still
    open. Leaked tasks are cancelled before the error is raised. If the block
    raised, that exception propagates and leaks are not reported.

    On timeout: leaked tasks get one second to react to cancellation.

    On cancellation: ``CancelledError`` propagates and the generator hook is
    removed.

    Raises:
        LeakError: if something leaked.
        RuntimeError: on entry, if no event loop is running.
    """

    def __init__(self) -> None:
        self._check = LeakCheck()

    async def __aenter__(self) -> LeakCheck:
        await self._check.start()
        return self._check

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._check.finish(raise_on_leak=exc_type is None)


async def _no_leaks() -> AsyncIterator[LeakCheck]:
    """Fail the test (as an error at teardown) if it leaks tasks or generators.

    The check covers the test and the fixtures set up after this one. It needs
    pytest-asyncio and an async test running on the fixture's event loop.
    """
    check = LeakCheck(patch_loop=True)
    await check.start()
    yield check
    await check.finish()


def _qualname(agen: AnyAsyncGen) -> str:
    return cast(AsyncGeneratorType[Any, Any], agen).__qualname__


def _describe_task(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    description = f"task {task.get_name()!r}"
    qualname = getattr(coro, "__qualname__", None)
    if qualname is not None:
        description += f" running {qualname}()"
    frame = getattr(coro, "cr_frame", None)
    if frame is not None:
        description += f" suspended at {frame.f_code.co_filename}:{frame.f_lineno}"
    return description + " was still pending"


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the context manager still works
    pass
else:
    no_leaks = pytest_asyncio.fixture(_no_leaks, name="no_leaks")
    __all__ += ["no_leaks"]
