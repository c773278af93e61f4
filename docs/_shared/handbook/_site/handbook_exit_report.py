"""What an example left behind, written to a report file at interpreter exit.

Every example process calls :func:`install` before the example runs (from
sitecustomize when the example is started as ``python example.py``, from the
fork server otherwise).  At exit it records event loops that were never
closed, threads still running and child processes still alive.
"""

import atexit
import os
import sys
import threading

_report_path: "str | None" = None
_findings: "list[str]" = []


# A thread that was told to stop may need a moment to finish (a library's
# worker thread, say); only one still running after this grace is a leak.
_THREAD_GRACE = 1.0


def _still_alive(daemon: bool) -> "list[threading.Thread]":
    import time

    deadline = time.monotonic() + _THREAD_GRACE
    alive = []
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon != daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            alive.append(thread)
    return alive


def _threads_still_running() -> None:
    # Runs in threading._shutdown, before non-daemon threads are joined: a
    # thread named here would otherwise hang the exit silently.
    for thread in _still_alive(daemon=False):
        _findings.append(f"thread {thread.name!r} is still running")


def _open_event_loops() -> None:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return
    import gc

    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop):
            try:
                closed = obj.is_closed()
            except Exception:
                continue
            if not closed:
                _findings.append(f"event loop {obj!r} was never closed")


def _daemon_threads() -> None:
    for thread in _still_alive(daemon=True):
        _findings.append(f"daemon thread {thread.name!r} is still running")


def _child_processes() -> None:
    me = str(os.getpid())
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, parent = fields[0], fields[1]
        if parent == me and state != "Z":
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                    command = cmd.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                command = "?"
            _findings.append(f"child process {entry} ({command}) is still alive")


def _write_report() -> None:
    _daemon_threads()
    _open_event_loops()
    _child_processes()
    if _report_path is None:
        return
    with open(_report_path, "w", encoding="utf-8") as report:
        report.write("\n".join(_findings))


def install(report_path: str) -> None:
    """Write the report to ``report_path`` when this interpreter exits."""
    global _report_path
    _report_path = report_path
    atexit.register(_write_report)
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(_threads_still_running)
