"""An offline intersphinx inventory for the Python standard library.

Builds must pass with ``-W`` and no network, yet ``{py:func}`asyncio.run``` and
the type hints in the API reference should still link to docs.python.org.
So the project writes its own ``objects.inv``: it walks the modules the
handbook talks about in the running interpreter and records, for each public
name, the page of the Python documentation that documents it (the docs use
the dotted name as the anchor, e.g. ``library/asyncio-task.html#asyncio.sleep``).

Each name is recorded under the role the Python documentation gives it, and
only that one, so that nitpicky builds catch a wrong role as the real
inventory would: ``{py:func}`asyncio.Event``` is an error, ``{py:class}`` is
right.  The role comes from the object (a class, an exception, a function, a
method, a property, data) except where the documentation declares it
otherwise (:data:`_DOCUMENTED_AS`: ``contextlib.suppress`` is a class at run
time and a function in the documentation).
"""

from __future__ import annotations

import builtins
import functools
import importlib
import inspect
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ensure_python_inventory", "python_inventory_entries"]

# Module (or implementation module) -> page of the Python docs.
PAGES = {
    "asyncio": "library/asyncio.html",
    "asyncio.base_events": "library/asyncio-eventloop.html",
    "asyncio.events": "library/asyncio-eventloop.html",
    "asyncio.unix_events": "library/asyncio-eventloop.html",
    "asyncio.runners": "library/asyncio-runner.html",
    "asyncio.tasks": "library/asyncio-task.html",
    "asyncio.taskgroups": "library/asyncio-task.html",
    "asyncio.timeouts": "library/asyncio-task.html",
    "asyncio.coroutines": "library/asyncio-task.html",
    "asyncio.threads": "library/asyncio-task.html",
    "asyncio.exceptions": "library/asyncio-exceptions.html",
    "asyncio.futures": "library/asyncio-future.html",
    "asyncio.locks": "library/asyncio-sync.html",
    "asyncio.queues": "library/asyncio-queue.html",
    "asyncio.streams": "library/asyncio-stream.html",
    "asyncio.subprocess": "library/asyncio-subprocess.html",
    "contextlib": "library/contextlib.html",
    "contextvars": "library/contextvars.html",
    "collections.abc": "library/collections.abc.html",
    "typing": "library/typing.html",
    "types": "library/types.html",
    "signal": "library/signal.html",
    "threading": "library/threading.html",
    "concurrent.futures": "library/concurrent.futures.html",
    "concurrent.futures._base": "library/concurrent.futures.html",
    "concurrent.futures.thread": "library/concurrent.futures.html",
    "logging": "library/logging.html",
    "logging.handlers": "library/logging.handlers.html",
    "warnings": "library/warnings.html",
    "sys": "library/sys.html",
    "gc": "library/gc.html",
    "weakref": "library/weakref.html",
    "tracemalloc": "library/tracemalloc.html",
    "subprocess": "library/subprocess.html",
    "os": "library/os.html",
    "time": "library/time.html",
    "atexit": "library/atexit.html",
    "functools": "library/functools.html",
    "dataclasses": "library/dataclasses.html",
    "enum": "library/enum.html",
    "inspect": "library/inspect.html",
    "traceback": "library/traceback.html",
    "sqlite3": "library/sqlite3.html",
    "tempfile": "library/tempfile.html",
    "pathlib": "library/pathlib.html",
    "socket": "library/socket.html",
    "selectors": "library/selectors.html",
    "math": "library/math.html",
}
# Names implemented in C whose __module__ does not say where they are documented.
_PAGE_OVERRIDES = {
    "asyncio.Task": "library/asyncio-task.html",
    "asyncio.Future": "library/asyncio-future.html",
    "asyncio.current_task": "library/asyncio-task.html",
    "asyncio.all_tasks": "library/asyncio-task.html",
    "asyncio.get_running_loop": "library/asyncio-eventloop.html",
    "asyncio.get_event_loop": "library/asyncio-eventloop.html",
}
# The asyncio loop methods are documented on a pseudo-class "asyncio.loop".
_LOOP_PAGE = "library/asyncio-eventloop.html"
# Generator, coroutine and async generator methods (language reference).
_EXPRESSION_METHODS = {
    "agen.__anext__": "reference/expressions.html",
    "agen.asend": "reference/expressions.html",
    "agen.athrow": "reference/expressions.html",
    "agen.aclose": "reference/expressions.html",
    "generator.__next__": "reference/expressions.html",
    "generator.send": "reference/expressions.html",
    "generator.throw": "reference/expressions.html",
    "generator.close": "reference/expressions.html",
    "coroutine.send": "reference/datamodel.html",
    "coroutine.throw": "reference/datamodel.html",
    "coroutine.close": "reference/datamodel.html",
    "object.__aenter__": "reference/datamodel.html",
    "object.__aexit__": "reference/datamodel.html",
    "object.__aiter__": "reference/datamodel.html",
    "object.__anext__": "reference/datamodel.html",
    "object.__del__": "reference/datamodel.html",
}
# Names the docs interpreter may not have yet (added in a later Python), or
# modules the walk above skips; (name, role, uri).
_EXTRA = [
    ("asyncio.subprocess", "py:module", "library/asyncio-subprocess.html"),
    # 3.11.7's asyncio.__all__ leaves TaskGroup out; 3.12 added the function.
    ("asyncio.TaskGroup", "py:class", "library/asyncio-task.html#asyncio.TaskGroup"),
    (
        "inspect.getasyncgenstate",
        "py:function",
        "library/inspect.html#inspect.getasyncgenstate",
    ),
    # Type hints name C implementations by the module that defines them.
    ("_asyncio.Task", "py:class", "library/asyncio-task.html#asyncio.Task"),
    ("_asyncio.Future", "py:class", "library/asyncio-future.html#asyncio.Future"),
    (
        "asyncio.events.AbstractEventLoop",
        "py:class",
        "library/asyncio-eventloop.html#asyncio.AbstractEventLoop",
    ),
    (
        "asyncio.subprocess.Process",
        "py:class",
        "library/asyncio-subprocess.html#asyncio.subprocess.Process",
    ),
    ("asyncio.Queue.shutdown", "py:method", "library/asyncio-queue.html#asyncio.Queue.shutdown"),
    ("asyncio.QueueShutDown", "py:exception", "library/asyncio-queue.html#asyncio.QueueShutDown"),
]
_TERMS = {
    "asynchronous generator": "glossary.html#term-asynchronous-generator",
    "asynchronous generator iterator": "glossary.html#term-asynchronous-generator-iterator",
    "coroutine": "glossary.html#term-coroutine",
    "awaitable": "glossary.html#term-awaitable",
    "asynchronous context manager": "glossary.html#term-asynchronous-context-manager",
    "garbage collection": "glossary.html#term-garbage-collection",
}
# Names the Python documentation declares under another role than their type
# at run time suggests: classes documented as functions (or decorators, which
# are functions in the inventory), factory functions documented as classes.
# Where the documentation changed its mind between versions, both roles.
_DOCUMENTED_AS: dict[str, tuple[str, ...]] = {
    **{
        f"contextlib.{name}": ("py:function",)
        for name in (
            "aclosing",
            "chdir",
            "closing",
            "nullcontext",
            "redirect_stderr",
            "redirect_stdout",
            "suppress",
        )
    },
    "functools.cached_property": ("py:function",),
    "functools.partial": ("py:function", "py:class"),
    "tempfile.TemporaryDirectory": ("py:function", "py:class"),
    "threading.Lock": ("py:class",),
    "threading.RLock": ("py:class",),
    **{
        name: ("py:function",)
        for name in ("enumerate", "filter", "map", "reversed", "zip", "classmethod", "staticmethod")
    },
}
_BUILTIN_TYPES = {
    "str",
    "int",
    "float",
    "bytes",
    "list",
    "dict",
    "set",
    "tuple",
    "frozenset",
    "bytearray",
    "memoryview",
    "range",
    "complex",
}


def _role(obj: object) -> str | None:
    """The role the object's type suggests (None for a module)."""
    if inspect.isclass(obj):
        return "py:exception" if issubclass(obj, BaseException) else "py:class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "py:function"
    if inspect.ismodule(obj):
        return None
    return "py:data"


def _roles(name: str, obj: object) -> tuple[str, ...]:
    """The roles the Python documentation gives ``name``."""
    if name in _DOCUMENTED_AS:
        return _DOCUMENTED_AS[name]
    role = _role(obj)
    return () if role is None else (role,)


def python_inventory_entries() -> Iterator[tuple[str, str, str]]:
    """(name, role, uri) for every name the inventory holds."""
    for module_name, page in PAGES.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if "._" in module_name or module_name.startswith("asyncio."):
            # Implementation modules only choose pages; names come from the
            # public module.
            continue
        yield module_name, "py:module", f"{page}#module-{module_name}"
        exported = getattr(module, "__all__", None)
        for name in exported or dir(module):
            # A module's __all__ is public even where a name starts with "_"
            # (os._exit); without one, such names are private.
            if name.startswith("_") and not exported:
                continue
            obj = getattr(module, name, None)
            full = f"{module_name}.{name}"
            roles = _roles(full, obj)
            if not roles:
                continue
            owner = getattr(obj, "__module__", None) or module_name
            target_page = PAGES.get(owner, page) if owner.startswith(module_name) else page
            target_page = _PAGE_OVERRIDES.get(full, target_page)
            for role in roles:
                yield full, role, f"{target_page}#{full}"
            if inspect.isclass(obj):
                yield from _members(full, obj, target_page)
    loop_class = importlib.import_module("asyncio").AbstractEventLoop
    for name, _ in inspect.getmembers(loop_class, inspect.isfunction):
        if not name.startswith("_"):
            full = f"asyncio.loop.{name}"
            yield full, "py:method", f"{_LOOP_PAGE}#{full}"
    for full, page in _EXPRESSION_METHODS.items():
        yield full, "py:method", f"{page}#{full}"
    for name in dir(builtins):
        obj = getattr(builtins, name)
        if name.startswith("_"):
            continue
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            yield name, "py:exception", f"library/exceptions.html#{name}"
        elif name in _BUILTIN_TYPES:
            yield name, "py:class", f"library/stdtypes.html#{name}"
        elif inspect.isclass(obj) or inspect.isbuiltin(obj):
            for role in _roles(name, obj):
                yield name, role, f"library/functions.html#{name}"
    for name in ("None", "True", "False", "Ellipsis", "NotImplemented"):
        yield name, "py:data", f"library/constants.html#{name}"
    yield from _EXTRA
    for term, uri in _TERMS.items():
        yield term, "std:term", uri


def _members(owner: str, cls: type, page: str) -> Iterator[tuple[str, str, str]]:
    for name, member in vars(cls).items():
        if name.startswith("_") and name not in (
            "__aenter__",
            "__aexit__",
            "__aiter__",
            "__anext__",
        ):
            continue
        if isinstance(member, (property, functools.cached_property)) or (
            inspect.isdatadescriptor(member) and not callable(member)
        ):
            yield f"{owner}.{name}", "py:attribute", f"{page}#{owner}.{name}"
        elif callable(member) or isinstance(member, (classmethod, staticmethod)):
            yield f"{owner}.{name}", "py:method", f"{page}#{owner}.{name}"


def _render(entries: list[tuple[str, str, str]]) -> bytes:
    header = (
        "# Sphinx inventory version 2\n"
        "# Project: Python\n"
        f"# Version: {sys.version_info.major}.{sys.version_info.minor}\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in entries)
    return header + zlib.compress(body.encode())


def ensure_python_inventory(path: Path) -> Path:
    """Write the inventory to ``path`` unless an identical one is there."""
    seen: set[tuple[str, str]] = set()
    entries = []
    for name, role, uri in python_inventory_entries():
        if (name, role) not in seen:
            seen.add((name, role))
            entries.append((name, role, uri))
    entries.sort()
    data = _render(entries)
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path
