"""A bare asyncio service: SIGTERM cancels the main task, then it exits."""

import asyncio
import contextlib
import signal


async def main() -> None:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    print("ready", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


asyncio.run(main())
