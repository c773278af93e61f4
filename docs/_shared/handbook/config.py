"""The settings the handbook's tooling shares, in one place (DESIGN §2).

The languages, the environment variables through which the noxfile, pytest,
the runner and the benchmarks talk to each other, and the services examples
may ask for with ``% service: NAME``.  Every other module, the noxfile, the
tests and the benchmarks take these values from here instead of spelling them
again.

Importing this module costs nothing: it uses the standard library only and
imports no other handbook module, so the noxfile (on whatever Python runs
nox) and the Sphinx configuration can import it too.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LANGUAGES",
    "LANGUAGE_SETTINGS",
    "SERVICES",
    "Language",
    "Service",
    "other_language",
]


@dataclass(frozen=True)
class Language:
    """One language of the handbook: a page tree under docs/<code>/ and a site."""

    #: The directory under docs/, the site's directory and ``handbook_language``.
    code: str
    #: The caption of output blocks on this language's pages.
    output_caption: str
    #: The language's name written in that language (the language switch).
    name: str
    #: The project name Sphinx shows.
    project: str
    #: Sphinx's ``language`` setting.
    sphinx_language: str
    #: Sphinx's ``html_search_language`` setting.
    search_language: str
    #: The ``hreflang`` of this language's pages.
    hreflang: str


LANGUAGE_SETTINGS: dict[str, Language] = {
    "en": Language(
        code="en",
        output_caption="Output",
        name="English",
        project="Async Cleanup Handbook",
        sphinx_language="en",
        search_language="en",
        hreflang="en",
    ),
    "zh": Language(
        code="zh",
        output_caption="输出",
        name="简体中文",
        project="Python 异步清理手册",
        sphinx_language="zh_CN",
        search_language="zh",
        hreflang="zh-Hans",
    ),
}
#: The language codes, English first: the page trees docs/en and docs/zh.
LANGUAGES: tuple[str, ...] = tuple(LANGUAGE_SETTINGS)


def other_language(code: str) -> str:
    """The twin language of ``code`` ("en" <-> "zh")."""
    [other] = [language for language in LANGUAGES if language != code]
    return other


# Environment variables.  Each is read in one place; the comment says who
# sets it.

#: ``fork`` or ``spawn``: how an example process starts (runner.py).  Unset:
#: fork where os.fork exists.  ``nox -s docs-spawn`` sets spawn.
RUNNER_VARIABLE = "HANDBOOK_EXAMPLE_RUNNER"
#: Seconds an example may run before it is killed (default 10).
TIMEOUT_VARIABLE = "HANDBOOK_EXAMPLE_TIMEOUT"
#: The services the test session started, comma-separated (noxfile).
SERVICES_VARIABLE = "HANDBOOK_SERVICES"
#: JSON object: each service that could not start, and why (noxfile).  Its
#: examples are skipped with that reason.
SERVICE_PROBLEMS_VARIABLE = "HANDBOOK_SERVICE_PROBLEMS"
#: Path of a JSON file the test session writes each example's time to
#: (benchmarks/docs.py sets it).
TIMINGS_VARIABLE = "HANDBOOK_TIMINGS"
#: Path of the record of examples that passed, for incremental verification
#: (``nox -s docs`` sets it; DESIGN §8).  Unset: every example runs.
VERIFIED_RECORD_VARIABLE = "HANDBOOK_VERIFIED_RECORD"
#: Set (to anything but "" or "0"): run every example, even one the record
#: says passed with the same inputs (``nox -s docs -- --force``).
VERIFY_ALL_VARIABLE = "HANDBOOK_VERIFY_ALL"
#: Set by CI systems; the test sessions then verify everything and nox
#: treats a missing interpreter as an error.
CI_VARIABLE = "CI"
#: The command that runs nox, for benchmarks that time nox sessions
#: (``nox -s bench`` sets it).
NOX_VARIABLE = "HANDBOOK_NOX"
#: Set by the spawn runner for _site/sitecustomize.py, which removes both at
#: once (it cannot import this module: it runs in the example's interpreter).
LEAK_REPORT_VARIABLE = "HANDBOOK_LEAK_REPORT"
ORIGINAL_PYTHONPATH_VARIABLE = "HANDBOOK_ORIGINAL_PYTHONPATH"


@dataclass(frozen=True)
class Service:
    """Something outside Python an example needs: ``% service: NAME``.

    The test sessions start each registered service once (when it can
    start) and give every example that asks for it a fresh, empty instance
    of its own through ``example_variable``, the variable a reader sets to
    point the same example at their own server.
    """

    #: The name written in the marker.
    name: str
    #: What the one-line messages call it.
    title: str
    #: Where the implementation is, ``module:attribute`` (see services.py).
    provider: str
    #: Programs that must all be found for the service to start.
    programs: tuple[str, ...]
    #: Glob patterns of directories searched for ``programs`` after PATH.
    search_paths: tuple[str, ...]
    #: How a reader installs it.
    install_hint: str
    #: Set for the test processes: the running service's address (admin).
    session_variable: str
    #: Set for each example that asks for the service: its own instance.
    example_variable: str


SERVICES: dict[str, Service] = {
    "postgres": Service(
        name="postgres",
        title="PostgreSQL",
        provider="handbook.services:Postgres",
        programs=("initdb", "pg_ctl"),
        search_paths=("/usr/lib/postgresql/*/bin",),
        install_hint="apt-get install postgresql",
        session_variable="HANDBOOK_POSTGRES_DSN",
        example_variable="DATABASE_URL",
    ),
}
