"""Fixtures for the aiocleanup package tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

# The package's own leak check, used on the package's own tests.
from aiocleanup.testing import no_leaks  # noqa: F401

# In-process signal tests use SIGUSR1/SIGUSR2, never SIGINT/SIGTERM, so a
# mistake cannot stop the test run.
TEST_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


@pytest.fixture
def fallback_handlers() -> Iterator[dict[int, int]]:
    """Install counting handlers for the test signals; restore them afterwards.

    Yields a dict counting how often each signal reached these handlers: a
    signal that gets past the code under test lands here instead of killing
    the test run.
    """
    counts = {int(sig): 0 for sig in TEST_SIGNALS}

    def count(signum: int, frame: object) -> None:
        counts[signum] += 1

    previous = {sig: signal.signal(sig, count) for sig in TEST_SIGNALS}
    try:
        yield counts
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
