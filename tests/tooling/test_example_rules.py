"""Each rule of the example contract (DESIGN §3) fails when it is broken.

The pages under fixtures/ are small handbook pages, one rule each; these
tests run them through the same code the real pages go through.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from handbook.config import (
    RUNNER_VARIABLE,
    SERVICE_PROBLEMS_VARIABLE,
    SERVICES,
    SERVICES_VARIABLE,
    TIMEOUT_VARIABLE,
)
from handbook.markup import MarkupError, parse_file
from handbook.runner import run_code
from handbook.services import ServiceUnavailable, find_programs, postgres_cluster
from handbook.verify import check_result, evaluate_example

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True, params=["fork", "spawn"] if hasattr(os, "fork") else ["spawn"])
def example_runner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every rule holds whichever way the examples are started."""
    mode: str = request.param
    monkeypatch.setenv(RUNNER_VARIABLE, mode)
    return mode


def evaluate(page: str) -> list[str | None]:
    """Evaluate every example of a fixture page: None for a pass, else the message."""
    parsed = parse_file(FIXTURES / page, display_path=f"fixtures/{page}")
    return [evaluate_example(example) for example in parsed.examples]


def test_matching_output_passes_with_wildcards() -> None:
    assert evaluate("passes.md") == [None, None]


def test_mismatch_fails_with_a_diff_naming_page_and_lines() -> None:
    [message] = evaluate("mismatch.md")
    assert message is not None
    assert "fixtures/mismatch.md:3: output differs from the output block at line 9" in message
    assert "--- expected: output block at fixtures/mismatch.md:9" in message
    assert "+++ actual: what the example at fixtures/mismatch.md:3 printed" in message
    # The hunk header counts the expected side in page lines: "TWO" is line 13.
    assert re.search(r"^@@ -12,3 \+1,3 @@$", message, re.M)
    assert "\n-TWO\n+two\n" in message


def test_printing_without_an_output_block_fails() -> None:
    [message] = evaluate("no-output-block.md")
    assert message is not None
    assert "printed output but has no output block" in message
    assert "nobody checks this" in message


@pytest.mark.parametrize("page", ["orphan-output.md", "separated-output.md"])
def test_output_block_without_python_block_is_a_page_error(page: str) -> None:
    with pytest.raises(
        MarkupError, match="output block with no ```python block directly before it"
    ):
        parse_file(FIXTURES / page)


def test_each_block_runs_in_a_fresh_namespace_as_main() -> None:
    assert evaluate("fresh-namespace.md") == [None, None]


def test_continued_block_sees_the_previous_one_and_compares_only_its_own_output() -> None:
    assert evaluate("continued.md") == [None, None]


def test_continued_block_fails_when_run_alone() -> None:
    page = parse_file(FIXTURES / "continued.md")
    result = run_code(page.examples[1].code)
    message = check_result(page.examples[1], result)
    assert message is not None
    assert "NameError: name 'counter' is not defined" in message


def test_traceback_compares_text_before_and_exception_line() -> None:
    assert evaluate("traceback.md") == [None]


def test_traceback_with_a_different_exception_fails() -> None:
    [message] = evaluate("traceback-wrong.md")
    assert message is not None
    assert "-ValueError: boom" in message
    assert "+KeyError: 'missing'" in message


def test_version_gates_skip_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    page = parse_file(FIXTURES / "gated.md")
    newer, older = page.examples
    runs, skips = (newer, older) if sys.version_info >= (3, 11) else (older, newer)
    assert evaluate_example(runs) is None
    with pytest.raises(pytest.skip.Exception, match=r"version gate: needs Python"):
        evaluate_example(skips)


def test_gated_block_fails_when_forced_onto_the_wrong_version() -> None:
    # The gate is what keeps it green: the <3.11 example is wrong on 3.11+.
    page = parse_file(FIXTURES / "gated.md")
    wrong = page.examples[1] if sys.version_info >= (3, 11) else page.examples[0]
    assert check_result(wrong, run_code(wrong.code)) is not None


def test_service_examples_skip_visibly_unless_the_session_started_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SERVICES_VARIABLE, raising=False)
    monkeypatch.delenv(SERVICE_PROBLEMS_VARIABLE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="service: needs postgres, which this test"):
        evaluate("service.md")


def test_service_that_could_not_start_skips_its_examples_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SERVICES_VARIABLE, "")
    monkeypatch.setenv(SERVICE_PROBLEMS_VARIABLE, '{"postgres": "initdb failed (exit status 1)"}')
    with pytest.raises(
        pytest.skip.Exception,
        match=r"service: needs postgres, which cannot start here: initdb failed \(exit status 1\)",
    ):
        evaluate("service.md")


def test_an_example_that_hangs_is_killed_and_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # Generous: the example must have printed before the bound, even on a
    # machine with more work than cores.
    monkeypatch.setenv(TIMEOUT_VARIABLE, "5")
    [message] = evaluate("hangs.md")
    assert message is not None
    assert "did not finish within its time bound" in message
    assert "waiting forever" in message


@pytest.mark.parametrize(
    ("page", "leak"),
    [
        ("leaks-loop.md", "event loop <_UnixSelectorEventLoop running=False closed=False"),
        ("leaks-thread.md", "daemon thread 'forgotten-worker' is still running"),
        ("leaks-process.md", "child process"),
    ],
)
def test_leaked_loops_threads_and_processes_fail(page: str, leak: str) -> None:
    [message] = evaluate(page)
    assert message is not None
    assert "left things behind at exit" in message
    assert leak in message


def test_threads_that_finish_within_a_moment_are_not_leaks() -> None:
    assert evaluate("thread-finishing.md") == [None]


def test_stdout_and_stderr_interleave_in_written_order() -> None:
    assert evaluate("stderr-order.md") == [None]


def test_interpreter_exit_messages_are_part_of_the_output() -> None:
    assert evaluate("exit-noise.md") == [None]


def test_unclosed_fence_is_a_page_error_naming_the_line() -> None:
    with pytest.raises(
        MarkupError, match=r"broken-fence.md:3: the fence ``` opened here is never closed"
    ):
        parse_file(FIXTURES / "broken-fence.md")


def test_unknown_marker_is_a_page_error() -> None:
    with pytest.raises(MarkupError, match=r"unknown marker '% requires-pyhton'"):
        parse_file(FIXTURES / "unknown-marker.md")


@pytest.fixture(scope="module")
def postgres_admin_dsn() -> Iterator[str]:
    """The session's PostgreSQL, or one started here when it can start."""
    variable = SERVICES["postgres"].session_variable
    if os.environ.get(variable):
        yield os.environ[variable]
        return
    with contextlib.ExitStack() as stack:
        try:
            dsn = stack.enter_context(postgres_cluster(find_programs(SERVICES["postgres"])))
        except ServiceUnavailable as error:
            pytest.skip(f"PostgreSQL cannot start here: {error}")
        yield dsn


def test_postgres_examples_get_an_empty_database_each(
    monkeypatch: pytest.MonkeyPatch, postgres_admin_dsn: str
) -> None:
    monkeypatch.setenv(SERVICES_VARIABLE, "postgres")
    monkeypatch.setenv(SERVICES["postgres"].session_variable, postgres_admin_dsn)
    # Twice: the table the first run created must not be there for the second.
    assert evaluate("postgres.md") == [None]
    assert evaluate("postgres.md") == [None]
