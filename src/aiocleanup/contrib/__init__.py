"""Optional integrations of :class:`~aiocleanup.GracefulShutdown` with web servers.

Each module imports its framework only when it is itself imported, so
``aiocleanup`` needs neither:

* :mod:`aiocleanup.contrib.uvicorn`: an ASGI application served by
  uvicorn's ``Server.serve()``, its lifespan shutdown a cleanup step;
* :mod:`aiocleanup.contrib.aiohttp`: an aiohttp ``web.Application`` served
  by a ``web.AppRunner``, its ``cleanup()`` a cleanup step.

Both give the service one drain timer, the shutdown's *grace*: every HTTP
request is an in-flight unit (``shutdown.inflight()``), so the drain waits
for it and the report counts it as cut off if the grace runs out; the
listener closes when the service stops accepting; a request that still
arrives on an open connection is answered ``503 Service Unavailable`` with
``Connection: close`` and ``Retry-After``, which a client may retry.
"""

from __future__ import annotations

__all__: list[str] = []
