"""The services the chaos test starts and signals, one per shape.

Each runs under ``aiocleanup.run()`` in a process of its own (forked by
launcher.py) and talks to the test over a TCP connection to 127.0.0.1: a
``ready`` line once it serves, and a ``result`` line, with what it did,
after ``run()`` returned. Then it exits with the result as its status.

* ``worker``: a queue worker. Jobs are rows of a SQLite table; a job is
  taken (``queued`` -> ``taken``) inside ``shutdown.inflight()``, worked on,
  and marked ``done``; a job cut off by the shutdown is put back
  (``taken`` -> ``queued``) before the cancellation propagates.
* ``aiohttp`` and ``uvicorn``: an HTTP service through
  ``aiocleanup.contrib``, whose ``POST /work?id=...&ms=...`` works for
  ``ms`` milliseconds; the service tells the test as it starts, finishes
  or has cut off each request, and when its cleanup ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import socket
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import aiocleanup

PRELOAD = {
    "worker": [],
    "aiohttp": ["aiohttp.web", "aiocleanup.contrib.aiohttp"],
    "uvicorn": [
        "uvicorn",
        "starlette.applications",
        "starlette.responses",
        "starlette.routing",
        "aiocleanup.contrib.uvicorn",
        "uvicorn.protocols.http.h11_impl",
        "uvicorn.lifespan.on",
        "uvicorn.loops.asyncio",
    ],
}
# Bounds of the phases after the drain: generous, they are never reached.
CANCEL_TIMEOUT = 2.0
STEP_TIMEOUT = 3.0


def preload(shape: str) -> None:
    for module in PRELOAD[shape]:
        importlib.import_module(module)


class Channel:
    """JSON lines to the test, over a blocking socket (a few small writes)."""

    def __init__(self, port: int, run_id: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.run_id = run_id

    def send(self, event: str, **data: Any) -> None:
        line = json.dumps({"id": self.run_id, "event": event, **data}) + "\n"
        self.socket.sendall(line.encode())

    def close(self) -> None:
        self.socket.close()


def run(spec: dict[str, Any]) -> int:
    channel = Channel(spec["channel"], spec["id"])
    main, records = SERVICES[spec["shape"]](spec, channel)
    result = aiocleanup.run(
        main, grace=spec["grace"], cancel_timeout=CANCEL_TIMEOUT, step_timeout=STEP_TIMEOUT
    )
    channel.send(
        "result",
        status=int(result),
        forced=result.forced,
        drained=result.drained,
        unfinished=[[item.outcome, item.kind, item.name] for item in result.unfinished],
        steps=list(result.steps),
        step_failures=[failure.name for failure in result.step_failures],
        **records,
    )
    channel.close()
    return int(result)


# The queue worker.


def worker_service(spec: dict[str, Any], channel: Channel) -> tuple[Any, dict[str, Any]]:
    database = sqlite3.connect(spec["db"], isolation_level=None)
    database.execute("PRAGMA synchronous=OFF")
    records: dict[str, Any] = {"taken": 0, "done": 0, "requeued": 0}

    def take() -> tuple[int, int] | None:
        row = database.execute(
            "SELECT id, ms FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        database.execute("UPDATE jobs SET state = 'taken', takes = takes + 1 WHERE id = ?", row[:1])
        records["taken"] += 1
        return int(row[0]), int(row[1])

    def finish(job: int) -> None:
        database.execute("UPDATE jobs SET state = 'done', done = done + 1 WHERE id = ?", (job,))
        records["done"] += 1

    def put_back(job: int) -> None:
        database.execute(
            "UPDATE jobs SET state = 'queued', requeued = requeued + 1 WHERE id = ?", (job,)
        )
        records["requeued"] += 1

    async def work(shutdown: aiocleanup.GracefulShutdown) -> None:
        while True:
            # Entered before the job is taken: once the service stops
            # accepting, this raises ShuttingDown and nothing is taken.
            async with shutdown.inflight(name="job"):
                job = take()
                if job is not None:
                    number, milliseconds = job
                    try:
                        await asyncio.sleep(milliseconds / 1000)
                    except asyncio.CancelledError:
                        put_back(number)
                        raise
                    finish(number)
            if job is None:
                await shutdown.unless_stopping(asyncio.sleep(0.005))

    async def main(shutdown: aiocleanup.GracefulShutdown) -> None:
        for number in range(spec["workers"]):
            shutdown.spawn(work(shutdown), name=f"worker {number}", drain=False)
        shutdown.push(database.close, name="database")
        channel.send("ready")
        await shutdown.wait()

    return main, records


# The HTTP services.


def http_records() -> dict[str, Any]:
    return {}


async def do_work(channel: Channel, request_id: str, milliseconds: int) -> None:
    # Each step goes to the test as it happens: if a late signal ends the
    # process after its shutdown, the test still knows what it did.
    channel.send("started", request=request_id)
    try:
        await asyncio.sleep(milliseconds / 1000)
    except asyncio.CancelledError:
        channel.send("cut", request=request_id)
        raise
    channel.send("done", request=request_id)


def aiohttp_service(spec: dict[str, Any], channel: Channel) -> tuple[Any, dict[str, Any]]:
    from aiohttp import web

    from aiocleanup.contrib import aiohttp as cleanup_aiohttp

    records = http_records()

    async def work(request: web.Request) -> web.Response:
        request_id = request.query["id"]
        await do_work(channel, request_id, int(request.query["ms"]))
        return web.Response(text=f"done {request_id}")

    async def on_cleanup(app: web.Application) -> None:
        channel.send("cleaned up")

    async def main(shutdown: aiocleanup.GracefulShutdown) -> None:
        app = web.Application()
        app.router.add_post("/work", work)
        app.on_cleanup.append(on_cleanup)
        runner = await cleanup_aiohttp.start(shutdown, app, port=0, access_log=None)
        channel.send("ready", port=runner.addresses[0][1])
        await shutdown.wait()

    return main, records


def uvicorn_service(spec: dict[str, Any], channel: Channel) -> tuple[Any, dict[str, Any]]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from aiocleanup.contrib import uvicorn as cleanup_uvicorn

    records = http_records()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        channel.send("cleaned up")

    async def work(request: Request) -> PlainTextResponse:
        request_id = request.query_params["id"]
        await do_work(channel, request_id, int(request.query_params["ms"]))
        return PlainTextResponse(f"done {request_id}")

    app = Starlette(routes=[Route("/work", work, methods=["POST"])], lifespan=lifespan)

    async def main(shutdown: aiocleanup.GracefulShutdown) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False, loop="asyncio"
        )
        server = await cleanup_uvicorn.start(shutdown, config)
        channel.send("ready", port=server.servers[0].sockets[0].getsockname()[1])
        await shutdown.wait()

    return main, records


SERVICES = {"worker": worker_service, "aiohttp": aiohttp_service, "uvicorn": uvicorn_service}
