"""Argument checks shared by the public classes.

Every check raises ``TypeError`` or ``ValueError`` with a message that says
what was expected, so a bad argument fails where it is passed rather than
deep inside a shutdown.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Coroutine

__all__ = ["check_callable", "check_name", "check_seconds", "check_signals"]


def check_seconds(value: object, *, what: str) -> float:
    """Return *value* as a float number of seconds, or raise."""
    # bool is an int subclass, but ``grace=True`` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{what} must be a number of seconds (int or float), "
            f"got {type(value).__name__}: {value!r}"
        )
    seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def check_callable(value: object, *, expected: str) -> None:
    """Raise unless *value* is callable; *expected* says what was wanted.

    A coroutine object passed by mistake (``f()`` for ``f``) is closed, so it
    does not also warn "coroutine ... was never awaited".
    """
    if callable(value):
        return
    if isinstance(value, Coroutine):
        value.close()
    raise TypeError(f"{expected}, got {type(value).__name__}")


def check_name(value: object, *, what: str) -> str | None:
    """Return *value* if it is ``None`` or a string, or raise."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, got {type(value).__name__}")
    return value


# Signals a process cannot catch; asking to handle them is always a mistake.
_UNCATCHABLE = {getattr(signal, name) for name in ("SIGKILL", "SIGSTOP") if hasattr(signal, name)}


def check_signals(values: object) -> tuple[signal.Signals, ...]:
    """Return *values* as a tuple of catchable ``signal.Signals``, or raise."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(
            "signals must be an iterable of signal numbers such as "
            f"(signal.SIGINT, signal.SIGTERM), got {type(values).__name__}"
        )
    result: list[signal.Signals] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                "signals must contain signal numbers such as signal.SIGTERM, "
                f"got {type(value).__name__}: {value!r}"
            )
        try:
            sig = signal.Signals(value)
        except ValueError:
            raise ValueError(
                f"unknown signal number {value!r} on this platform; expected a "
                "member of signal.Signals such as signal.SIGTERM"
            ) from None
        if sig in _UNCATCHABLE:
            raise ValueError(f"{sig.name} cannot be caught; expected a catchable signal")
        if sig not in result:
            result.append(sig)
    return tuple(result)
