"""How to work on the handbook: ``nox -l`` lists the sessions.

Dependencies live in pyproject.toml's dependency groups; every session
installs from there.  uv creates the environments when it is installed
(``pip install uv``), virtualenv otherwise.  Python is never downloaded:
install the Pythons you want to test on yourself (pyenv, your OS, python.org).
The docs, docs-spawn, lint, stress, serve, browser and bench sessions run on
the Python nox itself runs on, which must be 3.11+.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
TEST_PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]
# The docs are built on whichever Python runs nox (None: nox's own), so the
# README's first command works with the one Python a reader has.  Sphinx 9 and
# myst-parser 5 need 3.11+: see require_docs_python().
DOCS_PYTHON = None
DOCS_MINIMUM = (3, 11)
DOCS_BUILD = ROOT / "docs" / "_build"
# The examples that passed, for incremental verification (git-ignored).
VERIFIED_RECORD = DOCS_BUILD / "verified-examples.json"
TOOLING = str(ROOT / "docs" / "_shared")
# The tooling's shared settings (standard library only, any Python 3.10+).
sys.path.insert(0, TOOLING)
from handbook import config  # noqa: E402

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.download_python = "never"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "docs", "lint"]
# Without CI set, a missing interpreter is skipped; in CI it is an error.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")


@contextlib.contextmanager
def services(session: nox.Session) -> Iterator[dict[str, str]]:
    """Start the services of handbook.config.SERVICES that can start; yield their environment.

    A service that cannot start here (not installed, say) is one line in the
    log, and the examples marked ``% service: NAME`` are skipped with that
    line as the reason; it never stops the session.
    """
    from handbook.services import started_services

    with started_services(log=session.log, warn=session.warn) as env:
        yield env


def require_docs_python(session: nox.Session) -> None:
    """Stop with a clear message when the session's Python cannot run Sphinx."""
    # None: the venv is made from the interpreter running nox (--force-python
    # replaces it with a version string such as "3.12").
    found: tuple[int, ...]
    if session.python is None:
        found = sys.version_info[:2]
    else:
        found = tuple(int(part) for part in str(session.python).split(".")[:2])
    if found < DOCS_MINIMUM:
        wanted = ".".join(map(str, DOCS_MINIMUM))
        session.error(
            f"this session needs Python {wanted}+ (Sphinx 9, myst-parser 5), but nox runs on "
            f"Python {'.'.join(map(str, found))}: install nox with a newer Python "
            f"(python3.12 -m pip install nox) or pick one: nox -s {session.name} "
            f"--force-python 3.12"
        )


def install(session: nox.Session, *groups: str, project: bool = True) -> None:
    requirements: list[str] = []
    for group in groups:
        requirements += nox.project.dependency_groups(PYPROJECT, group)
    if project:
        requirements += ["-e", "."]
    session.install(*requirements)


def verify_examples(
    session: nox.Session,
    *paths: str,
    runner: str | None = None,
    extra: dict[str, str] | None = None,
) -> None:
    """Run pytest on ``paths`` with the services started.

    ``runner`` picks how examples start; ``extra`` adds environment variables.
    """
    with services(session) as env:
        if runner is not None:
            env = {**env, config.RUNNER_VARIABLE: runner}
        env.update(extra or {})
        # Most examples wait (on a child process, a timeout, a sleep) more than
        # they compute, and they are written to stay reliable with twice as
        # many running as there are cores: two workers per core.
        workers = str(2 * (os.cpu_count() or 1))
        session.run("pytest", *paths, "-q", "-n", workers, "-p", "no:cacheprovider", env=env)


@nox.session(python=TEST_PYTHONS)
def tests(session: nox.Session) -> None:
    """Everything, on each Python: package tests, docs examples, parity, tooling tests."""
    install(session, "test")
    # Examples spend much of their time waiting on child processes: use every core.
    with services(session) as env:
        session.run("pytest", "-n", "auto", *session.posargs, env=env)


@nox.session(python=DOCS_PYTHON)
def docs(session: nox.Session) -> None:
    """Verify the docs examples that changed, then build both languages into docs/_build/html.

    Incremental: an example runs unless it passed before with the same inputs
    (DESIGN §8).  ``nox -s docs -- --force`` (and CI) run every example.
    Other arguments go to Sphinx.
    """
    require_docs_python(session)
    install(session, "docs")
    force = "--force" in session.posargs
    sphinx_arguments = [argument for argument in session.posargs if argument != "--force"]
    record = {config.VERIFIED_RECORD_VARIABLE: str(VERIFIED_RECORD)}
    if force:
        record[config.VERIFY_ALL_VARIABLE] = "1"
    # Sphinx builds into docs/_build/staging while the examples run; the site
    # (docs/_build/html) is only updated once every example has passed.
    with staged_build(session, sphinx_arguments):
        verify_examples(session, "docs", "tests/test_parity.py", extra=record)
    session.run("python", "-m", "handbook.build", "--publish-only", env={"PYTHONPATH": TOOLING})


@contextlib.contextmanager
def staged_build(session: nox.Session, sphinx_arguments: list[str]) -> Iterator[None]:
    """Build the site into docs/_build/staging, at a lower priority, while the body runs.

    Most examples wait more than they compute, and Sphinx uses the time they
    leave the processors idle.  Sphinx's output is shown once the body is
    done; if the body fails, the build is stopped.
    """
    if session.bin is None:  # pragma: no cover (the docs session has a virtualenv)
        session.error("the docs session needs its own environment")
    command = [
        str(Path(session.bin) / "python"),
        "-m",
        "handbook.build",
        "--stage-only",
        *sphinx_arguments,
    ]
    session.log(f"{shlex.join(command[1:])} (in the background)")
    env = {**os.environ, "PYTHONPATH": TOOLING}
    env.update((name, value) for name, value in session.env.items() if value is not None)
    with tempfile.TemporaryFile() as log:
        build = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(build.pid, signal.SIGKILL)
            build.wait()
            raise
        status = build.wait()
        log.seek(0)
        output = log.read().decode(errors="replace")
    if output:
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
    if status != 0:
        session.error("the Sphinx build failed (its output is above); the site was not updated")


@nox.session(python=DOCS_PYTHON, name="docs-spawn")
def docs_spawn(session: nox.Session) -> None:
    """Every docs example in a new interpreter each, not the fork server the others use."""
    require_docs_python(session)
    install(session, "docs")
    verify_examples(session, "docs", runner="spawn")


@nox.session(python=DOCS_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (with the flake8-async ASYNC rules) on everything; mypy --strict on the code.

    mypy checks the package, the example tooling, the benchmarks and this
    file (the list is [tool.mypy] files in pyproject.toml).
    """
    install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict")


# nox -s stress: the tests whose timing a busy machine could upset, five
# times, each run bounded.  The package's tests, and the tooling's except
# those that build sites or run pytest inside pytest (slow, not timing-bound).
STRESS_TESTS = [
    "tests/package",
    "tests/tooling/test_runner.py",
    "tests/tooling/test_example_rules.py",
    "tests/tooling/test_services.py",
    "tests/tooling/test_checking.py",
    "tests/tooling/test_markup.py",
    "tests/tooling/test_parity_check.py",
]
STRESS_RUNS = 5
STRESS_WORKERS = 4
STRESS_BURNERS = 2
STRESS_RUN_BOUND = 600.0
STRESS_TEST_REPORT = 120.0


@nox.session(python=DOCS_PYTHON)
def stress(session: nox.Session) -> None:
    """The package and tooling tests, -n 4, five times, while two CPU-bound processes run.

    Twice as many test processes as cores, plus two that never yield: what a
    shared CI machine can look like.  Every run must pass within its bound.
    """
    install(session, "test")
    command = [str(Path(session.bin) / "pytest"), *STRESS_TESTS, *session.posargs]
    command += ["-q", "-n", str(STRESS_WORKERS), "-p", "no:cacheprovider"]
    # A test still running after two minutes prints where every thread is.
    command += ["-o", f"faulthandler_timeout={STRESS_TEST_REPORT:.0f}"]
    environment = {**os.environ, "PATH": os.pathsep.join([session.bin, os.environ["PATH"]])}
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(STRESS_BURNERS)
    ]
    try:
        for run in range(1, STRESS_RUNS + 1):
            session.log(f"stress run {run} of {STRESS_RUNS}: {shlex.join(command[1:])}")
            started = time.monotonic()
            process = subprocess.Popen(command, env=environment, start_new_session=True)
            try:
                status = process.wait(timeout=STRESS_RUN_BOUND)
            except subprocess.TimeoutExpired:
                # SIGINT first: pytest then says what was running.
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                session.error(f"stress run {run} did not finish within {STRESS_RUN_BOUND:.0f} s")
            if status != 0:
                session.error(f"stress run {run} failed (pytest exit status {status})")
            session.log(f"stress run {run} passed in {time.monotonic() - started:.1f} s")
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


@nox.session(python=DOCS_PYTHON)
def serve(session: nox.Session) -> None:
    """Live preview of one language while writing: nox -s serve -- zh (default en)."""
    require_docs_python(session)
    install(session, "serve")
    language = session.posargs[0] if session.posargs else "en"
    if language not in config.LANGUAGES:
        session.error(f"unknown language {language!r}: use one of {', '.join(config.LANGUAGES)}")
    session.run(
        "sphinx-autobuild",
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
        "--watch",
        "docs/_shared",
        "-d",
        str(DOCS_BUILD / "doctrees" / f"serve-{language}"),
        f"docs/{language}",
        str(DOCS_BUILD / "serve" / language),
        env={"PYTHONPATH": TOOLING},
    )


@nox.session(python=DOCS_PYTHON)
def bench(session: nox.Session) -> None:
    """Measure the speed budgets (DESIGN §9) and print one table: nox -s bench -- --help."""
    require_docs_python(session)
    install(session, "test")
    # The docs rows time `nox -s docs` itself, run by this same nox.
    nox_command = shlex.join([sys.executable, "-m", "nox"])
    session.run(
        "python", "benchmarks/run.py", *session.posargs, env={config.NOX_VARIABLE: nox_command}
    )


@nox.session(python=False)
def clean(session: nox.Session) -> None:
    """Remove built docs and caches (not the nox environments)."""
    for path in (DOCS_BUILD, ROOT / ".pytest_cache", ROOT / ".mypy_cache", ROOT / ".ruff_cache"):
        if path.exists():
            session.log(f"removing {path.relative_to(ROOT)}")
            shutil.rmtree(path)


@nox.session(python=DOCS_PYTHON)
def browser(session: nox.Session) -> None:
    """Build the site, then test it in Chromium (apt-get install chromium) with Playwright."""
    require_docs_python(session)
    install(session, "browser")
    session.run("python", "-m", "handbook.build", env={"PYTHONPATH": TOOLING})
    # HANDBOOK_BROWSER makes tests/browser collectable; there, a missing
    # Chromium fails instead of skipping.
    session.run(
        "pytest",
        "tests/browser",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"HANDBOOK_BROWSER": "1"},
    )
