"""Fork server: start one interpreter, fork it once per example (DESIGN §6).

Started by :mod:`handbook.runner` as ``python forkserver.py FD EXIT_REPORT
MODULE...``: FD is one end of a SOCK_SEQPACKET socket pair, EXIT_REPORT the
path of ``handbook_exit_report.py`` and the modules are imported once, here,
before the first fork.  Starting an interpreter and importing asyncio is most
of what a small example costs; a fork is about a millisecond.

For each request (a JSON object with an ``id`` and, alongside it, the write
end of the example's output pipe) the server forks.  The child turns itself
into what ``python example.py`` would have been (see :func:`become_example`)
and runs the example as this interpreter's main program; the server answers
with the child's pid, waits for it, and answers with its exit status, both
answers carrying the request's ``id`` so the runner can tell a late answer
from the one it waits for.

Everything this file does in the child happens before the example's first
line or in this module's outermost frame, which strips its own frames from
the traceback of an uncaught exception and re-raises it with a bare ``raise``
(which adds no frame), so the interpreter itself prints it, exits with its
status and finalizes as usual.  tests/tooling/test_runner.py compares the two
ways of running an example, probe by probe.
"""

import sys

# What a new interpreter has imported before its main program starts.
_STARTUP_MODULES = list(sys.modules)

import builtins  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import types  # noqa: E402
from importlib.machinery import SourceFileLoader  # noqa: E402

_MAX_MESSAGE = 1 << 20


def _load_exit_report(path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("handbook_exit_report", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["handbook_exit_report"] = module
    spec.loader.exec_module(module)
    return module


def serve(channel: socket.socket) -> "dict[str, object] | None":
    """Answer requests until the runner goes away; in a child, return its request."""
    while True:
        try:
            data, fds, _flags, _address = socket.recv_fds(channel, _MAX_MESSAGE, 1)
        except ConnectionResetError:
            return None
        if not data:
            return None
        request = json.loads(data)
        [output] = fds
        pid = os.fork()
        if pid == 0:
            channel.close()
            request["output_fd"] = output
            return dict(request)
        os.close(output)
        channel.send(json.dumps({"id": request["id"], "pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        returncode = os.waitstatus_to_exitcode(status)
        channel.send(json.dumps({"id": request["id"], "returncode": returncode}).encode())


def _new_standard_streams() -> None:
    """New sys.stdin, sys.stdout and sys.stderr for descriptors 0, 1 and 2.

    A text stream settles some answers when it is made: seekable(), and
    line buffering, which follows isatty().  The server's streams were made
    for its own descriptors (a log file, which is seekable), so the child
    makes new ones for the example's, the way the interpreter makes them as it
    starts (create_stdio() in Python/pylifecycle.c), keeping the server's
    encoding, error handlers and buffering, which came from the same
    environment.
    """
    unbuffered = bool(sys.__stdout__ and sys.__stdout__.write_through)  # PYTHONUNBUFFERED
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, f"__{name}__")
        writing = fd != 0
        buffering = 0 if writing and unbuffered else -1
        binary = open(fd, "wb" if writing else "rb", buffering, closefd=False)  # noqa: SIM115
        raw = binary if buffering == 0 else getattr(binary, "raw")  # noqa: B009
        setattr(raw, "name", f"<{name}>")  # noqa: B010
        line_buffering = not unbuffered and (raw.isatty() or fd == 2)
        stream = io.TextIOWrapper(
            binary, old.encoding, old.errors, "\n", line_buffering, unbuffered
        )
        setattr(stream, "mode", "w" if writing else "r")  # noqa: B010
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def become_example(
    request: "dict[str, object]", startup_modules: "list[str]", exit_report: types.ModuleType
) -> "tuple[types.CodeType, dict[str, object]]":
    """Turn this forked child into ``python example.py`` run in the request's directory."""
    os.setsid()
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    output = request["output_fd"]
    assert isinstance(output, int)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    _new_standard_streams()
    workdir, script = str(request["workdir"]), str(request["script"])
    environment = request["env"]
    assert isinstance(environment, dict)
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(environment)
    path = os.path.join(workdir, script)
    sys.argv = [script]
    sys.orig_argv = [str(request["python"]), script]
    sys.path[0] = workdir
    # A fresh __main__, in the place a new interpreter has it in sys.modules
    # (module teardown at exit follows that order).
    main = types.ModuleType("__main__")
    main.__file__ = path
    if "__cached__" in vars(sys.modules["__main__"]):
        # This server is a ``python script.py`` main too: the same names
        # (3.15 no longer sets __cached__).
        setattr(main, "__cached__", None)  # noqa: B010
    setattr(main, "__builtins__", builtins)  # noqa: B010
    main.__loader__ = SourceFileLoader("__main__", path)
    modules = dict(sys.modules)
    modules["__main__"] = main
    order = [name for name in startup_modules if name in modules]
    order += [name for name in modules if name not in startup_modules]
    sys.modules.clear()
    sys.modules.update((name, modules[name]) for name in order)
    exit_report.install(request["report"])
    with open(path, "rb") as source:
        code = compile(source.read(), path, "exec")
    return code, main.__dict__


def main() -> None:
    channel = socket.socket(fileno=int(sys.argv[1]))
    startup_modules = _STARTUP_MODULES
    exit_report = _load_exit_report(sys.argv[2])
    for name in sys.argv[3:]:
        # If it is not installed, the example's own import fails as it would
        # for a reader.
        with contextlib.suppress(ImportError):
            __import__(name)
    # What the imports built lives until exit: keep it out of the children's
    # collections (and their copies of its memory pages).  The children
    # still finalize it at exit as usual.
    gc.collect()
    gc.freeze()
    channel.send(b'{"ready": true}')
    request = serve(channel)
    if request is None:
        return
    code, namespace = become_example(request, startup_modules, exit_report)
    del request, startup_modules, exit_report, channel
    exec(code, namespace)


if __name__ == "__main__":
    try:
        main()
    except BaseException as error:
        # Only the example's own frames, as if it were the main program.
        here = error.__traceback__
        while here is not None and here.tb_frame.f_code.co_filename == __file__:
            here = here.tb_next
        error.__traceback__ = here
        if sys.version_info < (3, 11):
            # 3.10 re-raises the exception of sys.exc_info(), a separate
            # (type, value, traceback) triple: give it the same traceback.
            import ctypes

            handled = (type(error), error, here)
            for item in handled:
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(item))  # PyErr_SetExcInfo steals
            ctypes.pythonapi.PyErr_SetExcInfo(*map(ctypes.py_object, handled))
            del handled, item
        del here, error
        raise
