"""The exception that says a shutdown has begun, shared by every module."""

from __future__ import annotations

__all__ = ["ShuttingDown"]


class ShuttingDown(RuntimeError):
    """Raised when new work is offered after the service stopped accepting.

    :meth:`GracefulShutdown.inflight`, :meth:`GracefulShutdown.spawn` and
    :meth:`GracefulShutdown.unless_stopping` raise it once the service stops
    accepting work, and :meth:`GracefulShutdown.push` once cleanup began.

    Where it ends up decides what it means:

    * in the service body, or in a task spawned with ``drain=False``, it ends
      that code quietly: that is how an acceptor or a worker loop stops;
    * in a task spawned as a job (``drain=True``, the default) it means the
      job was refused part-way: it is reported as refused and the exit status
      is ``CUT_OFF``. Catch it where you can still give the work back (answer
      503, put the job back in the queue).

    Attributes:
        reason: why the shutdown was requested, e.g. ``"received SIGTERM"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"shutting down ({reason}); not accepting new work")
        self.reason = reason
