"""Argument checks shared by the public classes.

Every check raises ``TypeError`` or ``ValueError`` with a message that says
what was expected, so a bad argument fails where it is passed rather than
deep inside a shutdown.
"""

from __future__ import annotations

import inspect
import logging
import math
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = [
    "check_bool",
    "check_callable",
    "check_choice",
    "check_coroutine",
    "check_logger",
    "check_main",
    "check_name",
    "check_optional_seconds",
    "check_seconds",
    "check_signals",
]

ChoiceT = TypeVar("ChoiceT", bound=str)

# The logger every class of the package uses unless it is given another.
DEFAULT_LOGGER = logging.getLogger("aiocleanup")


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


def check_optional_seconds(value: object, *, what: str) -> float | None:
    """Return ``None`` or *value* as seconds (see :func:`check_seconds`)."""
    return None if value is None else check_seconds(value, what=what)


def check_bool(value: object, *, what: str) -> bool:
    """Return *value* if it is a bool, or raise."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, got {type(value).__name__}: {value!r}")
    return value


def check_choice(value: object, choices: tuple[ChoiceT, ...], *, what: str) -> ChoiceT:
    """Return *value* if it is one of *choices*, or raise ``ValueError``."""
    for choice in choices:
        if value == choice:
            return choice
    listed = ", ".join(repr(choice) for choice in choices[:-1]) + f" or {choices[-1]!r}"
    raise ValueError(f"{what} must be {listed}, got {value!r}")


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


def check_coroutine(value: object, *, caller: str) -> None:
    """Raise ``TypeError`` unless *value* is a coroutine object."""
    if not isinstance(value, Coroutine):
        raise TypeError(
            f"{caller} expected a coroutine object, such as worker(), "
            f"got {type(value).__name__}: {value!r}"
        )


def check_main(main: object) -> Callable[[Any], Any]:
    """Return *main* if it can be called with one argument, or raise ``TypeError``.

    ``run()`` calls ``main(shutdown)``; the usual mistakes are passing
    ``main()`` instead of ``main`` and writing ``async def main():`` without
    the parameter.
    """
    expected = (
        "run() expected an async function that takes one argument, the "
        "GracefulShutdown, such as 'async def main(shutdown): ...'"
    )
    check_callable(main, expected=f"{expected}; pass main, not main()")
    assert callable(main)
    try:
        signature = inspect.signature(main)
    except (TypeError, ValueError):  # builtins and some C callables have none
        return main
    try:
        signature.bind(None)
    except TypeError:
        name = getattr(main, "__qualname__", None) or repr(main)
        shown = signature.replace(return_annotation=inspect.Signature.empty)
        raise TypeError(f"{expected}; {name}{shown} cannot be called with one argument") from None
    return main


def check_name(value: object, *, what: str) -> str | None:
    """Return *value* if it is ``None`` or a string, or raise."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, got {type(value).__name__}")
    return value


def check_logger(value: object) -> logging.Logger:
    """Return *value*, or the ``"aiocleanup"`` logger for ``None``, or raise."""
    if value is None:
        return DEFAULT_LOGGER
    if not isinstance(value, logging.Logger):
        raise TypeError(f"logger must be a logging.Logger or None, got {type(value).__name__}")
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
