"""The fork server runs an example exactly as ``python example.py`` would (DESIGN §6).

Each probe below runs twice, once through the fork server and once in a new
interpreter (HANDBOOK_EXAMPLE_RUNNER=spawn), and the two must print the same
text (temporary directory names aside) and exit with the same status.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import textwrap

import pytest
from handbook import runner as runner_module
from handbook.config import RUNNER_VARIABLE
from handbook.runner import PRELOAD, ForkServerError, RunResult, preload, run_code, runner

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server needs os.fork")


def run(mode: str, code: str, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> RunResult:
    with monkeypatch.context() as patch:
        patch.setenv(RUNNER_VARIABLE, mode)
        return run_code(textwrap.dedent(code), **kwargs)  # type: ignore[arg-type]


def normalised(result: RunResult) -> tuple[str, int | None, list[str]]:
    output = re.sub(r"handbook-example-\w+", "<workdir>", result.output)
    return output, result.returncode, result.leaks


PROBES = {
    "main module and arguments": """
        import os, sys
        import __main__
        print(__name__, __spec__, __package__, __cached__, __doc__)
        print(type(__builtins__).__name__, type(__loader__).__name__, __loader__.name)
        print(__main__.__dict__ is globals())
        print(__file__ == os.path.join(os.getcwd(), "example.py"))
        print(sys.argv, sys.orig_argv[1:], sys.orig_argv[0] == sys.executable)
        print(sys.path[0] == os.getcwd(), os.path.isabs(sys.path[0]))
        print(sys.flags)
        """,
    "descriptors, stdin, process group": """
        import os, sys
        print(sorted(int(fd) for fd in os.listdir("/proc/self/fd"))[:3])
        print(len(os.listdir("/proc/self/fd")))
        print(os.readlink("/proc/self/fd/0"), repr(sys.stdin.read()))
        print(os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid())
        print(sys.stdout.line_buffering, sys.stdout.write_through, sys.stdout.encoding)
        print(sys.stderr.errors, sys.stdout.isatty())
        """,
    "standard streams": """
        import sys
        for name in ("stdin", "stdout", "stderr"):
            stream = getattr(sys, name)
            print(name, stream is getattr(sys, f"__{name}__"), stream.fileno(), stream.name)
            print(" ", type(stream).__name__, type(stream.buffer).__name__, stream.mode)
            print(" ", stream.seekable(), stream.isatty(), stream.readable(), stream.writable())
            print(" ", stream.encoding, stream.errors, stream.newlines)
            print(" ", stream.line_buffering, stream.write_through)
            raw = getattr(stream.buffer, "raw", stream.buffer)
            print(" ", raw.name, raw.mode, raw.closefd, raw.seekable())
        """,
    "sys.path": """
        import os, sys
        print([entry.replace(os.getcwd(), "<workdir>") for entry in sys.path])
        print(any("_site" in entry or "_forkserver" in entry for entry in sys.path))
        """,
    "environment": """
        import os
        print(sorted(name for name in os.environ if name.startswith(("HANDBOOK", "PYTEST"))))
        print(os.environ.get("PYTHONUNBUFFERED"), os.environ.get("PYTHONIOENCODING"))
        print(os.environ.get("PYTHONPATH"))
        """,
    "signal dispositions and threads": """
        import signal, threading
        for name in ("SIGINT", "SIGTERM", "SIGPIPE", "SIGCHLD", "SIGHUP"):
            print(name, signal.getsignal(getattr(signal, name)))
        print(threading.active_count(), threading.current_thread() is threading.main_thread())
        """,
    "warnings and source lines": """
        import inspect, warnings
        print(len(warnings.filters))
        def shown():
            return 1
        print(inspect.getsource(shown), end="")
        warnings.warn("from __main__", DeprecationWarning)
        """,
    "uncaught exception with a cause": """
        def inner():
            raise KeyError("missing")

        def outer():
            try:
                inner()
            except KeyError as error:
                raise RuntimeError("lookup failed") from error

        print("before")
        outer()
        """,
    "sys.exit with a message": """
        import sys
        print("bye")
        sys.exit("stopping: message on stderr")
        """,
    "sys.exit with a status": """
        import sys
        sys.exit(3)
        """,
    "uncaught KeyboardInterrupt": """
        raise KeyboardInterrupt
        """,
    "what happens at interpreter exit": """
        import asyncio, atexit, sys

        class Noisy:
            def __del__(self):
                print("module teardown: Noisy.__del__", file=sys.stderr)

        keep = Noisy()
        atexit.register(print, "atexit handler")

        async def ticker():
            try:
                while True:
                    yield 1
            finally:
                print("generator finally")

        async def forever():
            await asyncio.sleep(3600)

        loop = asyncio.new_event_loop()
        task = loop.create_task(forever())
        loop.run_until_complete(asyncio.sleep(0))
        generator = ticker()
        print(loop.run_until_complete(generator.__anext__()))
        loop.close()
        print("end of script")
        """,
    "leaks are reported": """
        import asyncio, threading
        loop = asyncio.new_event_loop()
        threading.Thread(target=threading.Event().wait, daemon=True, name="waiter").start()
        """,
}

if sys.version_info >= (3, 11):
    PROBES["exception group"] = """
        import asyncio

        async def fail(n):
            raise ValueError(n)

        async def main():
            async with asyncio.TaskGroup() as group:
                group.create_task(fail(1))
                group.create_task(fail(2))

        asyncio.run(main())
        """


@pytest.mark.parametrize("name", sorted(PROBES))
def test_fork_server_and_new_interpreter_agree(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    forked = run("fork", PROBES[name], monkeypatch)
    spawned = run("spawn", PROBES[name], monkeypatch)
    assert normalised(forked) == normalised(spawned)
    assert forked.output or forked.returncode or forked.leaks  # each probe shows something


def test_variables_for_one_example_reach_it(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import os\nprint(os.environ['HANDBOOK_TEST_ADDRESS'])\n"
    for mode in ("fork", "spawn"):
        result = run(mode, code, monkeypatch, env={"HANDBOOK_TEST_ADDRESS": "127.0.0.1:5432"})
        assert result.output == "127.0.0.1:5432\n"


def test_a_changed_startup_variable_gets_a_new_server(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "print(hash('handbook'))\n"
    seen = {}
    for seed in ("1", "2", "1"):
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        seen.setdefault(seed, set()).add(run("fork", code, monkeypatch).output)
        assert seen[seed] == {run("spawn", code, monkeypatch).output}
    assert seen["1"] != seen["2"]


def test_a_hung_example_is_killed_and_the_server_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = "import threading\nprint('waiting', flush=True)\nthreading.Event().wait()\n"
    # Generous: the example must have printed before the bound, even on a
    # machine with more work than cores.
    hung = run("fork", code, monkeypatch, timeout=5)
    assert hung.timed_out
    assert hung.output == "waiting\n"
    assert run("fork", "print('next')\n", monkeypatch).output == "next\n"


def test_a_server_that_stops_answering_is_discarded_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = "print('answered')\n"
    assert run("fork", code, monkeypatch).output == "answered\n"
    server = runner_module._fork_servers.get(sys.executable, preload(code))
    # The server cannot answer while it is stopped: the runner gives up after
    # PROTOCOL_TIMEOUT (0.5 s here) and must never read its late answer as the
    # answer to a later request.
    monkeypatch.setattr(runner_module, "PROTOCOL_TIMEOUT", 0.5)
    os.kill(server.pid, signal.SIGSTOP)
    try:
        with pytest.raises(ForkServerError, match=r"did not answer within 0.5 s; it is discarded"):
            run("fork", code, monkeypatch)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGCONT)
    assert not server.usable()
    after = "print('a new server answers')\n"
    again = run("fork", after, monkeypatch)
    assert again.output == "a new server answers\n"
    assert runner_module._fork_servers.get(sys.executable, preload(code)) is not server
    assert normalised(again) == normalised(run("spawn", after, monkeypatch))


def test_fork_is_the_default_where_it_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNNER_VARIABLE, raising=False)
    assert runner() == "fork"
    monkeypatch.setenv(RUNNER_VARIABLE, "thread")
    with pytest.raises(ValueError, match="must be fork or spawn"):
        runner()


def test_preload_is_what_the_example_imports_of_the_known_libraries() -> None:
    code = "import asyncio, json\nimport aiohttp\nfrom starlette.routing import Route\n"
    assert preload(code) == (*PRELOAD, "aiohttp", "starlette.routing")
    assert preload("import json\n") == PRELOAD
    assert preload("this is not python") == PRELOAD
    assert preload("from . import sibling\n") == PRELOAD
