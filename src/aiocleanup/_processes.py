"""Stopping a child process: SIGTERM to its process group, SIGKILL after a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

__all__ = ["stop_process"]


async def stop_process(
    process: asyncio.subprocess.Process, name: str, term_timeout: float, kill_timeout: float
) -> None:
    """SIGTERM the process (its group if it leads one), then SIGKILL after *term_timeout*."""
    if process.returncode is not None:
        return
    group = _own_process_group(process.pid)
    exited = asyncio.ensure_future(process.wait())
    try:
        _signal_process(process, group, signal.SIGTERM)
        if await _process_gone(exited, group, term_timeout):
            return
        _signal_process(process, group, getattr(signal, "SIGKILL", signal.SIGTERM))
        await _process_gone(exited, group, kill_timeout)
    finally:
        exited.cancel()
    raise TimeoutError(
        f"{name} did not exit within {term_timeout:g} seconds of SIGTERM; it was killed"
    )


def _own_process_group(pid: int) -> int | None:
    getpgid = getattr(os, "getpgid", None)
    if getpgid is None:
        return None
    try:
        return pid if getpgid(pid) == pid else None
    except ProcessLookupError:
        return None


def _signal_process(
    process: asyncio.subprocess.Process, group: int | None, signum: signal.Signals
) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group is not None:
            os.killpg(group, signum)
        else:
            process.send_signal(signum)


async def _process_gone(exited: asyncio.Future[int], group: int | None, timeout: float) -> bool:
    """Wait up to *timeout* for the process, and its group, to be gone."""
    deadline = time.monotonic() + timeout
    await asyncio.wait((exited,), timeout=timeout)
    if not exited.done():
        return False
    # The leader has exited; its children may not have. There is no event
    # for "the group is empty", so look a few times a second.
    while group is not None:
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True
