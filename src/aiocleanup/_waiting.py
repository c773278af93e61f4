"""The one way the package waits: for an event, with a timeout, never raising."""

from __future__ import annotations

import asyncio

__all__ = ["wait_for_any"]


async def wait_for_any(events: tuple[asyncio.Event, ...], timeout: float) -> None:
    """Wait until one of *events* is set or *timeout* seconds passed; never raise.

    A timeout of zero or less, or an event already set, returns at once.
    On cancellation, ``CancelledError`` propagates.
    """
    if timeout <= 0 or any(event.is_set() for event in events):
        return
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
