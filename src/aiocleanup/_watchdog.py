"""A thread that ends the process when a shutdown overruns its deadline.

Everything the event loop waits for during a shutdown is bounded, but only
while the loop runs: a blocking call in a cleanup step, or the interpreter
joining executor threads at exit (``asyncio.run()`` and the interpreter both
do), blocks the thread the loop runs in. The watchdog runs in a daemon thread
of its own, so it can still act: at the deadline, or when asked to, it logs
the report it is given and ends the process with :func:`os._exit`. It also
says so when a signal arrives and the loop does not answer it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["Watchdog"]

# How long the log record gets to be written before the report goes
# straight to file descriptor 2: a handler whose lock the blocked thread holds
# would otherwise keep the watchdog from ever ending the process.
_LOG_TIMEOUT = 1.0
# How often a watchdog guarding the exit looks whether the threads ended.
_GUARD_INTERVAL = 0.05
# How long the event loop has to answer a signal before it counts as blocked.
_ANSWER_TIMEOUT = 1.0


class Watchdog:
    """End the process with ``describe()``'s status once a deadline passes.

    *describe* is called in the watchdog's thread with the reason and returns
    the exit status and the text to log. *unanswered* is called there
    :data:`_ANSWER_TIMEOUT` seconds after a signal arrived, and returns what
    to log if the event loop has not answered it, or ``None``.
    """

    def __init__(
        self,
        describe: Callable[[str], tuple[int, str]],
        unanswered: Callable[[], str | None],
        logger: logging.Logger,
    ) -> None:
        self._describe = describe
        self._unanswered = unanswered
        self._logger = logger
        # Re-entrant: expire_now() and signal_arrived() run in a signal
        # handler, which may interrupt the main thread while it holds it.
        self._condition = threading.Condition(threading.RLock())
        self._deadline: float | None = None
        self._check_answer_at: float | None = None
        self._expire_reason: str | None = None
        self._guarded: list[threading.Thread] | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread now, unarmed, so that arming later costs nothing."""
        with self._condition:
            self._start()

    @property
    def armed(self) -> bool:
        """Whether the watchdog's thread is running."""
        return self._thread is not None and not self._stopped

    def arm(self, seconds: float) -> None:
        """End the process *seconds* from now unless :meth:`stop` comes first."""
        with self._condition:
            self._deadline = time.monotonic() + seconds
            self._start()

    def extend(self, seconds: float) -> None:
        """Move the deadline to *seconds* from now, if that is later."""
        with self._condition:
            deadline = time.monotonic() + seconds
            if self._deadline is not None and deadline > self._deadline:
                self._deadline = deadline
                self._condition.notify_all()

    def signal_arrived(self) -> None:
        """Check, a moment from now, that the event loop answered a signal."""
        with self._condition:
            if self._check_answer_at is None:
                self._check_answer_at = time.monotonic() + _ANSWER_TIMEOUT
            self._start()

    def expire_now(self, reason: str) -> None:
        """End the process now, from any thread (a signal handler included)."""
        with self._condition:
            if self._expire_reason is None:
                self._expire_reason = reason
            self._start()

    def guard(self, threads: list[threading.Thread]) -> None:
        """Stay armed only until *threads* have ended (or the deadline passes)."""
        with self._condition:
            self._guarded = list(threads)
            self._condition.notify_all()

    def stop(self) -> None:
        """Disarm the watchdog; its daemon thread ends by itself.

        Not joined: waiting for a thread to be scheduled costs the exit
        milliseconds on a busy machine, and a daemon thread holds up nothing.
        """
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def _start(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(
                target=self._watch, name="aiocleanup shutdown deadline", daemon=True
            )
            self._thread.start()
        self._condition.notify_all()

    def _watch(self) -> None:
        while True:
            reason, note = self._wait()
            if note is not None:
                self._logger.warning("%s", note)
                continue
            if reason is None:
                return
            try:
                status, text = self._describe(reason)
            except Exception as error:  # the process must end all the same
                status, text = 3, f"{reason}; the report could not be made: {error!r}"
            self._report(text)
            os._exit(status)

    def _wait(self) -> tuple[str | None, str | None]:
        """Wait for the next thing to do: (reason to end the process, note to log)."""
        with self._condition:
            while True:
                if self._stopped:
                    return None, None
                if self._expire_reason is not None:
                    return self._expire_reason, None
                now = time.monotonic()
                if self._deadline is not None and now >= self._deadline:
                    return "the shutdown deadline passed", None
                if self._check_answer_at is not None and now >= self._check_answer_at:
                    self._check_answer_at = None
                    note = self._unanswered()
                    if note is not None:
                        return None, note
                if self._guarded is not None and not any(t.is_alive() for t in self._guarded):
                    self._stopped = True
                    return None, None
                self._condition.wait(self._next_wake(now))

    def _next_wake(self, now: float) -> float | None:
        times = [t - now for t in (self._deadline, self._check_answer_at) if t is not None]
        if self._guarded is not None:
            # No event says a thread ended; look a few times a second.
            times.append(_GUARD_INTERVAL)
        return max(0.0, min(times)) if times else None

    def _report(self, text: str) -> None:
        written = threading.Event()

        def log() -> None:
            self._logger.critical("%s", text)
            for handler in [*self._logger.handlers, *logging.getLogger().handlers]:
                handler.flush()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    stream.flush()
            written.set()

        try:
            threading.Thread(target=log, name="aiocleanup deadline report", daemon=True).start()
        except RuntimeError:  # at interpreter shutdown: nothing else holds the locks
            log()
        if not written.wait(_LOG_TIMEOUT):
            os.write(2, f"aiocleanup: {text}\n".encode(errors="replace"))
