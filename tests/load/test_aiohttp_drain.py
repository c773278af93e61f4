"""200 slow requests in flight when SIGTERM reaches the aiohttp service of
docs/en/patterns/draining-aiohttp.md: none fails, the listener refuses new
connections, every cleanup hook runs, the process exits in time."""

from __future__ import annotations

import asyncio
import time

import aiohttp

PAGE = "en/patterns/draining-aiohttp.md"
READINESS_DELAY = 0.3
SHUTDOWN_TIMEOUT = 3.0
#: The service's own budget for the whole shutdown.
GRACE = READINESS_DELAY + SHUTDOWN_TIMEOUT


async def scenario(kit) -> None:
    source = kit.service_source(PAGE, "READINESS_DELAY = float(")
    env = {"READINESS_DELAY": str(READINESS_DELAY), "SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)}
    async with kit.start(source, env) as service:
        port = int((await service.wait_for_line(r"listening on port (\d+)")).group(1))
        base = f"http://127.0.0.1:{port}"
        connector = aiohttp.TCPConnector(limit=0)  # no client-side cap on connections
        timeout = aiohttp.ClientTimeout(total=kit.STEP_TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            jobs, signalled = await kit.jobs_in_flight_then_sigterm(
                session, service, base, "/ready", f"ready, {kit.REQUESTS} jobs in flight"
            )

            await service.wait_for_line("readiness answers 503")
            async with session.get(f"{base}/ready") as response:
                assert response.status == 503

            await service.wait_for_line("listener closed")
            assert await kit.refused(port), "a new connection was accepted while draining"

            results = await asyncio.wait_for(asyncio.gather(*jobs), timeout=kit.STEP_TIMEOUT)

        returncode = await service.wait_exit(timeout=GRACE + 1)
        exited_after = time.monotonic() - signalled

    failed = [result for result in results if result != "200 job done"]
    assert failed == [], f"{len(failed)} in-flight requests failed, e.g. {failed[:3]}"
    assert returncode == 0, service.output
    assert exited_after < GRACE + 1, f"exited {exited_after:.2f} s after SIGTERM"
    cleanup = [
        "service: on_shutdown: telling long-lived connections to finish",
        "service: cleanup_ctx: database pool closed",
        "service: on_cleanup: metrics flushed",
        "service: exiting",
    ]
    ran = [line for line in service.lines if line in cleanup]
    assert ran == cleanup, service.output


def test_sigterm_with_200_requests_in_flight(kit) -> None:
    asyncio.run(asyncio.wait_for(scenario(kit), timeout=18))
