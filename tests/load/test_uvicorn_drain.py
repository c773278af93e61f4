"""200 slow requests in flight when SIGTERM reaches the uvicorn service of
docs/en/patterns/draining-uvicorn.md: none fails, the listener refuses new
connections while they are still running, the lifespan shutdown runs, the
process exits in time."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp

PAGE = "en/patterns/draining-uvicorn.md"
#: The service's timeout_graceful_shutdown: its whole budget for the drain.
GRACE = 3.0


async def scenario(kit) -> None:
    source = kit.service_source(PAGE, "GRACEFUL_TIMEOUT = float(")
    async with kit.start(source, {"GRACEFUL_TIMEOUT": str(GRACE)}) as service:
        match = await service.wait_for_line(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
        port = int(match.group(1))
        base = f"http://127.0.0.1:{port}"
        connector = aiohttp.TCPConnector(limit=0)  # no client-side cap on connections
        timeout = aiohttp.ClientTimeout(total=kit.STEP_TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            jobs, signalled = await kit.jobs_in_flight_then_sigterm(
                session, service, base, "/status", f"{kit.REQUESTS} jobs in flight"
            )

            # uvicorn logs this right before it closes the listener, and the
            # next line 0.1 s later; by then the listener is closed.
            await service.wait_for_line("Shutting down")
            await service.wait_for_line("Waiting for connections to close")
            assert await kit.refused(port), "a new connection was accepted while draining"
            assert not all(job.done() for job in jobs), "the drain began after the jobs ended"

            results = await asyncio.wait_for(asyncio.gather(*jobs), timeout=kit.STEP_TIMEOUT)

        returncode = await service.wait_exit(timeout=GRACE + 1)
        exited_after = time.monotonic() - signalled

    failed = [result for result in results if result != "200 job done"]
    assert failed == [], f"{len(failed)} in-flight requests failed, e.g. {failed[:3]}"
    # uvicorn re-raises the SIGTERM it caught once its shutdown is complete.
    assert returncode == -signal.SIGTERM, service.output
    assert exited_after < GRACE + 1, f"exited {exited_after:.2f} s after SIGTERM"
    cleanup = [
        "INFO:     Waiting for application shutdown.",
        "service: lifespan shutdown: database pool closed",
        "INFO:     Application shutdown complete.",
    ]
    ran = [line for line in service.lines if line in cleanup]
    assert ran == cleanup, service.output
    assert not any("Cancel" in line for line in service.lines), service.output


def test_sigterm_with_200_requests_in_flight(kit) -> None:
    asyncio.run(asyncio.wait_for(scenario(kit), timeout=18))
