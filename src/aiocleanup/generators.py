"""Warn about async generators left to the garbage collector.

An async generator that is neither exhausted nor closed runs its ``finally``
blocks only when the garbage collector finds it, at a time and in a task you
do not control. The event loop installs async-generator hooks to close such
generators on the loop; this module adds a hook that chains to the loop's own
and emits :class:`ResourceWarning` each time that happens, naming the
generator and, on request, where it was first iterated.

CPython calls the finalizer hook only for a generator that was first iterated
while the hook was installed and that is still suspended and not closed when
it is finalized, so the hook costs nothing for generators that finish or are
closed.

``ResourceWarning`` is ignored by default; run with ``-W default`` (or
``-X dev``) to see the warnings.  A warning raised by the garbage collector
cannot fail a test even under the ``"error"`` filter (it is printed as
"Exception ignored"); to fail tests on leaks, use :mod:`aiocleanup.testing`.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
import weakref
from collections.abc import AsyncGenerator, Callable
from types import AsyncGeneratorType, FrameType, TracebackType
from typing import Any, cast

__all__ = [
    "UnclosedGeneratorHook",
    "install_generator_hook",
    "uninstall_generator_hook",
]

AnyAsyncGen = AsyncGenerator[Any, Any]
FirstIterHook = Callable[[AnyAsyncGen], None] | None
FinalizerHook = Callable[[AnyAsyncGen], None] | None

# Where a generator was first iterated: (filename, line number).
Origin = tuple[str, int]

# Origins of generators that finished normally are never looked up again; they
# are swept out once the table holds this many entries (and twice as many as
# after the previous sweep), which keeps the cost per generator constant.
_MIN_SWEEP_SIZE = 1024


class UnclosedGeneratorHook:
    """Emit ``ResourceWarning`` for async generators finalized while unclosed.

    Use it as a context manager inside a running event loop, or call
    :meth:`install` and :meth:`uninstall` yourself::

        async def main() -> None:
            with UnclosedGeneratorHook(capture_origin=True):
                await serve()

    While installed, the hook wraps the current thread's async-generator hooks
    (normally the running loop's, see :func:`sys.get_asyncgen_hooks`). Every
    generator first iterated in that time is still handed to the loop's own
    hooks, so the loop still closes it; the hook only adds the warning. The
    warning names the generator's ``__qualname__``, tells you to close it with
    ``aclose()`` or :func:`contextlib.aclosing` and, with
    ``capture_origin=True``, gives the file and line where it was first
    iterated. Capturing the origin costs a frame lookup and a table entry per
    generator, so it is off by default.

    Generators keep the hook they were first iterated under: one first
    iterated while the hook was installed still warns if it is collected
    after :meth:`uninstall`.

    Cancellation and timeouts do not apply: installing and removing are
    synchronous and never wait.

    Raises:
        TypeError: if *capture_origin* is not a bool.
    """

    def __init__(self, *, capture_origin: bool = False) -> None:
        if not isinstance(capture_origin, bool):
            raise TypeError(f"capture_origin must be a bool, got {type(capture_origin).__name__}")
        self._capture_origin = capture_origin
        self._previous: sys._asyncgen_hooks | None = None
        self._installed_hooks: tuple[FirstIterHook, FinalizerHook] | None = None
        self._origins: dict[int, tuple[weakref.ref[AnyAsyncGen], Origin]] = {}
        self._sweep_at = _MIN_SWEEP_SIZE

    @property
    def capture_origin(self) -> bool:
        """Whether warnings say where each generator was first iterated."""
        return self._capture_origin

    @property
    def installed(self) -> bool:
        """Whether the hook is currently installed."""
        return self._installed_hooks is not None

    def install(self) -> None:
        """Install the hook on top of the current thread's hooks.

        Call it from a coroutine running on the event loop: the loop sets its
        own hooks when it starts running, and the hook chains to them.

        Cancellation and timeouts do not apply: this returns immediately.

        Raises:
            RuntimeError: if no event loop is running in this thread, or the
                hook is already installed.
        """
        if self._installed_hooks is not None:
            raise RuntimeError("this UnclosedGeneratorHook is already installed")
        loop = asyncio.get_running_loop()  # raises RuntimeError outside a loop
        previous = sys.get_asyncgen_hooks()
        firstiter = self._chain_firstiter(previous.firstiter)
        finalizer = self._chain_finalizer(previous.finalizer, loop)
        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
        self._previous = previous
        self._installed_hooks = (firstiter, finalizer)

    def uninstall(self) -> None:
        """Restore exactly the hooks that were current when :meth:`install` ran.

        Cancellation and timeouts do not apply: this returns immediately.

        Raises:
            RuntimeError: if the hook is not installed, or the thread's hooks
                were replaced after it was installed (remove hooks in the
                reverse order of installing them, from the same thread).
        """
        if self._installed_hooks is None or self._previous is None:
            raise RuntimeError("this UnclosedGeneratorHook is not installed")
        current = sys.get_asyncgen_hooks()
        firstiter, finalizer = self._installed_hooks
        if current.firstiter != firstiter or current.finalizer is not finalizer:
            raise RuntimeError(
                "the async generator hooks were replaced after this hook was "
                "installed; remove hooks in the reverse order of installing "
                "them, from the thread that installed them"
            )
        sys.set_asyncgen_hooks(
            firstiter=self._previous.firstiter, finalizer=self._previous.finalizer
        )
        self._previous = None
        self._installed_hooks = None

    def __enter__(self) -> UnclosedGeneratorHook:
        self.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    # The two hooks. They run for every generator, so they stay small.

    def _chain_firstiter(self, previous: FirstIterHook) -> FirstIterHook:
        if not self._capture_origin:
            # Nothing to record: hand generators straight to the previous hook.
            return previous
        origins = self._origins

        def firstiter(agen: AnyAsyncGen) -> None:
            caller = sys._getframe(1)
            origins[id(agen)] = (
                weakref.ref(agen),
                (caller.f_code.co_filename, caller.f_lineno),
            )
            if len(origins) >= self._sweep_at:
                self._sweep_origins()
            if previous is not None:
                previous(agen)

        return firstiter

    def _chain_finalizer(
        self, previous: FinalizerHook, loop: asyncio.AbstractEventLoop
    ) -> Callable[[AnyAsyncGen], None]:
        def finalizer(agen: AnyAsyncGen) -> None:
            # CPython calls this only for a generator that is suspended and not
            # closed, so every call is a generator left to the collector.
            try:
                self._report_unclosed(agen, self._pop_origin(agen))
            finally:
                # Close the generator even when the warning is an error.
                if previous is not None:
                    previous(agen)
                elif not loop.is_closed():
                    # No hook below ours: close it on the loop, as asyncio does.
                    loop.call_soon_threadsafe(loop.create_task, agen.aclose())

        return finalizer

    def _pop_origin(self, agen: AnyAsyncGen) -> Origin | None:
        if not self._capture_origin:
            return None
        entry = self._origins.pop(id(agen), None)
        if entry is None:
            return None
        ref, origin = entry
        # By now the weak reference is usually cleared; a live one must be ours.
        target = ref()
        return origin if target is None or target is agen else None

    def _sweep_origins(self) -> None:
        dead = [key for key, (ref, _) in self._origins.items() if ref() is None]
        for key in dead:
            del self._origins[key]
        self._sweep_at = max(_MIN_SWEEP_SIZE, 2 * len(self._origins))

    def _report_unclosed(self, agen: AnyAsyncGen, origin: Origin | None) -> None:
        """Emit the warning; :mod:`aiocleanup.testing` records instead."""
        generator = cast(AsyncGeneratorType[Any, Any], agen)
        code = generator.ag_code
        frame: FrameType | None = generator.ag_frame
        module_globals: dict[str, Any] = frame.f_globals if frame is not None else {}
        # The module's own registry, as warnings.warn() uses: under the
        # "default" action one leaky generator function warns once, not
        # once per generator.
        registry = module_globals.setdefault("__warningregistry__", {})
        warnings.warn_explicit(
            _unclosed_message(agen, origin),
            ResourceWarning,
            filename=code.co_filename,
            lineno=code.co_firstlineno,
            module=module_globals.get("__name__", code.co_filename),
            registry=registry,
            source=agen,
        )


def first_iterated_at(origin: Origin | None) -> str:
    """Say where a generator was first iterated, as the warnings word it."""
    return "" if origin is None else f" (first iterated at {origin[0]}:{origin[1]})"


def _unclosed_message(agen: AnyAsyncGen, origin: Origin | None) -> str:
    """Describe a generator left to the garbage collector."""
    qualname = cast(AsyncGeneratorType[Any, Any], agen).__qualname__
    return (
        f"async generator {qualname!r} was finalized by the garbage "
        f"collector without being exhausted or closed{first_iterated_at(origin)}; close it with "
        "'await agen.aclose()' or 'async with contextlib.aclosing(agen)'"
    )


def install_generator_hook(*, capture_origin: bool = False) -> UnclosedGeneratorHook:
    """Install a new :class:`UnclosedGeneratorHook` and return it.

    Pass the returned hook to :func:`uninstall_generator_hook` to restore the
    previous hooks. Call it from a coroutine running on the event loop.

    Cancellation and timeouts do not apply: this returns immediately.

    Raises:
        TypeError: if *capture_origin* is not a bool.
        RuntimeError: if no event loop is running in this thread.
    """
    hook = UnclosedGeneratorHook(capture_origin=capture_origin)
    hook.install()
    return hook


def uninstall_generator_hook(hook: UnclosedGeneratorHook) -> None:
    """Remove *hook*, restoring exactly the hooks it replaced.

    Cancellation and timeouts do not apply: this returns immediately.

    Raises:
        TypeError: if *hook* is not an :class:`UnclosedGeneratorHook`.
        RuntimeError: if *hook* is not installed, or hooks installed after it
            are still in place.
    """
    if not isinstance(hook, UnclosedGeneratorHook):
        raise TypeError(
            "uninstall_generator_hook() expected the UnclosedGeneratorHook "
            f"returned by install_generator_hook(), got {type(hook).__name__}"
        )
    hook.uninstall()
