"""The examples as pytest sees them: ids, one item per broken page, summary.

The projects below are pytest runs of their own, over a few fixture pages,
with the same plugin docs/conftest.py registers (handbook.pytest_plugin).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def docs_project(page_project: Callable[..., pytest.Pytester]) -> pytest.Pytester:
    """A project with the handbook's pytest plugin and a few fixture pages."""
    return page_project(
        {"en": ["passes.md", "mismatch.md", "broken-fence.md"], "zh": ["passes.md", "gated.md"]}
    )


def test_broken_page_fails_as_one_item_and_the_rest_still_run(
    docs_project: pytest.Pytester,
) -> None:
    result = docs_project.runpytest_subprocess("docs", "-p", "no:cacheprovider", "-rA")
    outcomes = result.parseoutcomes()
    # en: 2 pass + 1 mismatch + 1 broken page; zh: 2 pass + one of the two gated runs.
    assert outcomes["failed"] == 2
    assert outcomes["passed"] == 5
    assert outcomes["skipped"] == 1
    result.stdout.fnmatch_lines(
        ["*docs/en/broken-fence.md:3: the fence ``` opened here is never closed*"]
    )


def test_ids_name_page_and_line_and_the_diff_names_both_lines(
    docs_project: pytest.Pytester,
) -> None:
    result = docs_project.runpytest_subprocess("docs/en/mismatch.md", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*docs/en/mismatch.md:3: output differs from the output block at line 9.",
            "--- expected: output block at docs/en/mismatch.md:9",
            "+++ actual: what the example at docs/en/mismatch.md:3 printed on Python *",
            "@@ -12,3 +1,3 @@",
            " one",
            "-TWO",
            "+two",
            " three",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED docs/en/mismatch.md::line:3,column:1*"])


def test_summary_counts_examples_per_language(docs_project: pytest.Pytester) -> None:
    result = docs_project.runpytest_subprocess("docs", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*docs examples*",
            "en: 3 examples ran (1 failed, 2 passed); 1 page(s) could not be parsed",
            "zh: 3 examples ran (3 passed, 1 skipped (version gate))",
        ]
    )
