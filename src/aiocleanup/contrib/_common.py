"""What the integrations share: the shutdown's bounds and the refusal."""

from __future__ import annotations

from typing import NamedTuple

from ..shutdown import GracefulShutdown

__all__ = ["REFUSAL_BODY", "REFUSAL_STATUS", "RETRY_AFTER", "Bounds", "bounds"]

#: The answer to a request that arrives once the service stopped accepting.
REFUSAL_STATUS = 503
REFUSAL_BODY = b"shutting down: not accepting new requests; retry\n"
#: Seconds a client should wait before retrying (on another instance).
RETRY_AFTER = "1"


class Bounds(NamedTuple):
    """The timeouts a :class:`GracefulShutdown` was created with."""

    grace: float
    cancel_timeout: float
    step_timeout: float


def bounds(shutdown: GracefulShutdown) -> Bounds:
    """The bounds of *shutdown*, so a framework's own timeouts fit inside them."""
    if not isinstance(shutdown, GracefulShutdown):
        raise TypeError(
            f"expected the GracefulShutdown (the argument of main), got {type(shutdown).__name__}"
        )
    return Bounds(shutdown.grace, shutdown.cancel_timeout, shutdown.step_timeout)
