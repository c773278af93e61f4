"""Incremental verification runs only the examples whose inputs changed (DESIGN §8).

Each test is a pytest project of fixture pages run twice or more with
HANDBOOK_VERIFIED_RECORD set, as ``nox -s docs`` runs the handbook.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from handbook.config import (
    CI_VARIABLE,
    TIMEOUT_VARIABLE,
    VERIFIED_RECORD_VARIABLE,
    VERIFY_ALL_VARIABLE,
)


@pytest.fixture
def project(
    page_project: Callable[..., pytest.Pytester], monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    pytester = page_project({"en": ["passes.md", "mismatch.md"], "zh": ["passes.md"]})
    monkeypatch.setenv(VERIFIED_RECORD_VARIABLE, str(pytester.path / "verified.json"))
    return pytester


def run(project: pytest.Pytester, *pages: str) -> pytest.RunResult:
    """One test run over ``pages`` (default: all of docs/)."""
    return project.runpytest_subprocess(*(pages or ["docs"]), "-p", "no:cacheprovider")


def recorded(project: pytest.Pytester) -> dict[str, str]:
    document = json.loads((project.path / "verified.json").read_text(encoding="utf-8"))
    passed: dict[str, str] = document["passed"]
    return passed


def test_only_passes_are_recorded_and_only_they_are_left_out(project: pytest.Pytester) -> None:
    first = run(project)
    first.assert_outcomes(passed=4, failed=1)
    first.stdout.fnmatch_lines(["every example ran; passes are recorded in *verified.json"])
    # Both examples of each passes.md, never the failing one.
    assert (
        sorted(recorded(project).values()) == ["docs/en/passes.md"] * 2 + ["docs/zh/passes.md"] * 2
    )

    second = run(project)
    # The failing example runs again; the four that passed do not.
    second.assert_outcomes(failed=1, deselected=4)
    second.stdout.fnmatch_lines(
        [
            "en: 1 examples ran (1 failed); 2 unchanged since they passed",
            "zh: 0 examples ran (none); 2 unchanged since they passed",
            "4 examples passed before with the same inputs and did not run (recorded in *)",
        ]
    )


def test_an_edited_example_runs_again(project: pytest.Pytester) -> None:
    run(project)
    page = project.path / "docs" / "en" / "passes.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("value = 1 + 1", "value = 2 + 2"),
        encoding="utf-8",
    )
    again = run(project, "docs/en/passes.md", "docs/zh/passes.md")
    again.assert_outcomes(passed=1, deselected=3)
    # The old key of the edited example is gone; the new one is there.
    assert len(recorded(project)) == 4


def test_an_edited_output_block_runs_again_and_a_failure_is_never_recorded(
    project: pytest.Pytester,
) -> None:
    run(project)
    page = project.path / "docs" / "zh" / "passes.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("\nstarted\nfinished", "\nbegun\nfinished"),
        encoding="utf-8",
    )
    again = run(project, "docs/zh/passes.md")
    again.assert_outcomes(failed=1, deselected=1)
    assert sorted(recorded(project).values()) == ["docs/en/passes.md"] * 2 + ["docs/zh/passes.md"]
    run(project, "docs/zh/passes.md").assert_outcomes(failed=1, deselected=1)


@pytest.mark.parametrize("variable", [VERIFY_ALL_VARIABLE, CI_VARIABLE])
def test_force_and_ci_run_every_example(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    run(project)
    monkeypatch.setenv(variable, "1")
    run(project).assert_outcomes(passed=4, failed=1)


def test_a_changed_session_input_runs_every_example_again(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(project)
    monkeypatch.setenv(TIMEOUT_VARIABLE, "11")
    run(project).assert_outcomes(passed=4, failed=1)


def test_nothing_left_to_run_is_a_success(project: pytest.Pytester) -> None:
    run(project, "docs/zh/passes.md")
    result = run(project, "docs/zh/passes.md")
    result.assert_outcomes(deselected=2)
    assert result.ret == 0


def test_without_a_record_every_example_runs(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VERIFIED_RECORD_VARIABLE)
    run(project)
    run(project).assert_outcomes(passed=4, failed=1)
    assert not Path(project.path / "verified.json").exists()


def test_with_xdist_workers_the_controller_records_and_counts(project: pytest.Pytester) -> None:
    command = ["docs", "-p", "no:cacheprovider", "-n", "2"]
    project.runpytest_subprocess(*command).assert_outcomes(passed=4, failed=1)
    assert len(recorded(project)) == 4
    second = project.runpytest_subprocess(*command)
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(
        [
            "en: 1 examples ran (1 failed); 2 unchanged since they passed",
            "zh: 0 examples ran (none); 2 unchanged since they passed",
        ]
    )
    assert len(recorded(project)) == 4
