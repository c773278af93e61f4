"""A fork server for the chaos test: one import, a fork per run.

Started once per test as ``python launcher.py SHAPE``: it imports what the
shape's service needs (aiocleanup and uvicorn, aiohttp or sqlite3), then
reads one JSON line per run on standard input and forks. The child becomes
the service, exactly as a process started with ``python service.py``
would run it: ``aiocleanup.run()`` in the main thread, its own signal
handlers, ``SystemExit`` with the result at the end, the interpreter's
usual exit. The launcher answers each line with ``{"id": ..., "pid": ...}``
and, once the child is gone, ``{"id": ..., "status": ...}`` (negative: the
signal that killed it). It waits for children with pidfds, so it has no
threads and installs no signal handlers the child would inherit.
"""

from __future__ import annotations

import json
import os
import selectors
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chaos_services


def write(message: dict[str, Any]) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


def serve_forks(shape: str) -> dict[str, Any] | None:
    """Fork a child per line; return the run's spec in the child, None at EOF."""
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, None)
    pending = b""
    running: dict[int, tuple[int, int]] = {}  # pidfd -> (run id, pid)
    stdin_open = True
    while stdin_open or running:
        for key, _ in selector.select():
            if key.data is None:
                chunk = os.read(0, 65536)
                if not chunk:
                    stdin_open = False
                    selector.unregister(0)
                    continue
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    spec = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        for pidfd in running:
                            os.close(pidfd)
                        selector.close()
                        return dict(spec)
                    pidfd = os.pidfd_open(pid)
                    running[pidfd] = (spec["id"], pid)
                    selector.register(pidfd, selectors.EVENT_READ, pidfd)
                    write({"id": spec["id"], "pid": pid})
            else:
                pidfd = key.data
                run_id, pid = running.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, wait_status = os.waitpid(pid, 0)
                write({"id": run_id, "status": os.waitstatus_to_exitcode(wait_status)})
    return None


def main() -> None:
    shape = sys.argv[1]
    chaos_services.preload(shape)
    write({"ready": shape})
    spec = serve_forks(shape)
    if spec is None:
        return
    # The child: its own output file, no standard input, then the service.
    log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    raise SystemExit(chaos_services.run(spec))


if __name__ == "__main__":
    main()
