"""Where a task is suspended, as text, for reports about tasks that will not end."""

from __future__ import annotations

import asyncio
import sys
from types import FrameType
from typing import Any

__all__ = ["where_suspended"]


def where_suspended(task: asyncio.Task[Any]) -> str:
    """Describe where *task* is suspended, innermost call last.

    Python 3.14+ has the whole call graph (:func:`asyncio.format_call_graph`,
    which also names the tasks awaiting this one). Before, the frames come
    from :meth:`asyncio.Task.get_stack` and the chain of coroutines each
    frame awaits.
    """
    if task.done():
        return f"task {task.get_name()!r} has finished"
    if sys.version_info >= (3, 14):
        return asyncio.format_call_graph(task).rstrip("\n")
    lines = [f"task {task.get_name()!r} suspended at (most recent call last):"]
    for frame in _awaited_frames(task):
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
    if len(lines) == 1:
        lines.append("  (no Python frames: it has not started yet)")
    return "\n".join(lines)


def _awaited_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    frames = list(task.get_stack())
    awaited: object = getattr(task.get_coro(), "cr_await", None)
    # Follow what each coroutine awaits: get_stack() stops at the task's own.
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return frames
