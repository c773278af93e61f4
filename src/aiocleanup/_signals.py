"""Installing signal handlers that hand signals to the event loop, and restoring them.

Two ways to hear a signal, as :class:`~aiocleanup.GracefulShutdown` offers
them with ``signal_api``:

* ``"loop"``: :meth:`asyncio.loop.add_signal_handler` (Unix). The loop's
  wakeup file descriptor wakes it, and the callback runs in the loop.
* ``"signal"``: :func:`signal.signal`, with a handler that hands over to the
  loop with :meth:`~asyncio.loop.call_soon_threadsafe` (for loops without
  ``add_signal_handler``, such as Windows').

Either way, an optional *on_raw* callback also runs in the Python-level
handler itself, in the main thread, as soon as the signal arrives: it still
runs when the event loop is blocked, which is what lets a third signal end a
process whose loop no longer answers.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Literal, NamedTuple

__all__ = ["SignalApi", "SignalHandlers"]

SignalApi = Literal["auto", "loop", "signal"]


class _Restore(NamedTuple):
    signum: signal.Signals
    previous: Any  # whatever signal.getsignal() returned
    previous_loop_handle: asyncio.Handle | None
    via_loop: bool


class SignalHandlers:
    """Route *signals* to *on_signal* in the loop until :meth:`restore`.

    *on_signal* runs in the event loop with the signal number; *on_raw*, if
    given, runs in the Python-level handler, in the main thread, and must do
    no more than record the signal.
    """

    def __init__(
        self,
        signals: tuple[signal.Signals, ...],
        api: SignalApi,
        on_signal: Callable[[int], None],
        on_raw: Callable[[int], None] | None = None,
    ) -> None:
        self._signals = signals
        self._api = api
        self._on_signal = on_signal
        self._on_raw = on_raw
        self._loop: asyncio.AbstractEventLoop | None = None
        # Signals installed with signal.signal(): their handler hands over.
        self._hand_over: set[int] = set()
        self._restores: list[_Restore] = []

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Install the handlers; on failure, restore those already installed.

        Raises:
            RuntimeError: outside the main thread.
            NotImplementedError: with ``api="loop"`` on a loop without
                ``add_signal_handler``.
        """
        if not self._signals:
            return
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                "signal handlers can only be installed in the main thread; "
                "pass signals=() and call request() yourself"
            )
        self._loop = loop
        try:
            for signum in self._signals:
                self._install_one(loop, signum)
        except BaseException:
            self.restore()
            raise

    def _install_one(self, loop: asyncio.AbstractEventLoop, signum: signal.Signals) -> None:
        previous = signal.getsignal(signum)
        # asyncio keeps no public record of its own handlers; this is what
        # lets us put back one that was added with the loop.
        previous_loop_handle = getattr(loop, "_signal_handlers", {}).get(signum)
        via_loop = False
        if self._api != "signal":
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
                via_loop = True
            except NotImplementedError:
                if self._api == "loop":
                    raise
        self._restores.append(_Restore(signum, previous, previous_loop_handle, via_loop))
        if not via_loop:
            self._hand_over.add(signum)
            signal.signal(signum, self._python_handler)
        elif self._on_raw is not None:
            # The loop still hears the signal through its wakeup descriptor;
            # this Python-level handler only records it.
            signal.signal(signum, self._python_handler)

    def _python_handler(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes, possibly in the
        # middle of the loop's own code: record, then hand over thread-safely.
        if self._on_raw is not None:
            self._on_raw(signum)
        loop = self._loop
        if signum in self._hand_over and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_signal, signum)

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`install`.

        Cancellation and timeouts do not apply: this returns immediately.
        """
        loop = self._loop
        while self._restores:
            restore = self._restores.pop()
            if restore.via_loop and loop is not None and not loop.is_closed():
                loop.remove_signal_handler(restore.signum)
                handle = restore.previous_loop_handle
                if handle is not None:
                    loop.add_signal_handler(
                        restore.signum,
                        handle._callback,  # type: ignore[attr-defined]
                        *handle._args,
                    )
                    continue
            if restore.previous is not None:
                signal.signal(restore.signum, restore.previous)
