"""The same service run by aiocleanup.run(), with nothing in flight.

Its body only waits for work, so it declares the acceptor's role
(body="stop"): the shutdown stops it at once instead of draining it.
"""

import asyncio

import aiocleanup


async def main(shutdown: aiocleanup.GracefulShutdown) -> None:
    print("ready", flush=True)
    await asyncio.Event().wait()  # the acceptor; stopped on SIGTERM


raise SystemExit(aiocleanup.run(main, body="stop"))
