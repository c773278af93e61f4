"""The same service run by aiocleanup.run(), with nothing in flight."""

import asyncio

import aiocleanup


async def main(shutdown: aiocleanup.GracefulShutdown) -> None:
    print("ready", flush=True)
    await asyncio.Event().wait()  # the acceptor; cancelled on SIGTERM


raise SystemExit(aiocleanup.run(main))
