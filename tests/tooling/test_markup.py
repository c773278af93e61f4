"""The markup module: what counts as an example, a marker, an output block."""

from __future__ import annotations

import pytest
from handbook.markup import MarkupError, parse_text


def test_examples_inside_admonitions_are_found_with_their_lines() -> None:
    page = parse_text(
        "# T\n\n````{note}\nText.\n\n```python\nprint(1)\n```\n\n"
        "```{code-block} text\n:class: output\n1\n```\n````\n"
    )
    [example] = page.examples
    assert example.line == 6
    assert example.output is not None
    assert example.output.content_line == 12


@pytest.mark.parametrize("info", ["py", "python3", "{code-block} python", "pycon"])
def test_python_that_would_not_be_executed_is_refused(info: str) -> None:
    with pytest.raises(MarkupError, match="must be a plain ```python fence"):
        parse_text(f"# T\n\n```{info}\nprint(1)\n```\n")


def test_marker_must_touch_its_fence() -> None:
    with pytest.raises(MarkupError, match="must stand directly above"):
        parse_text("# T\n\n% continued\n\nSome text.\n\n```python\nx = 1\n```\n")


def test_marker_on_a_non_python_block_is_refused() -> None:
    with pytest.raises(MarkupError, match="must stand directly above a ```python fence"):
        parse_text("# T\n\n% requires-python: >=3.11\n```bash\nls\n```\n")


def test_ordinary_comments_are_not_markers() -> None:
    page = parse_text("# T\n\n% TODO explain this better\n```python\nx = 1\n```\n")
    assert page.examples[0].block.markers == ()


def test_continued_first_block_is_refused() -> None:
    with pytest.raises(MarkupError, match="nothing to continue"):
        parse_text("# T\n\n% continued\n```python\nx = 1\n```\n")


def test_bad_version_specifier_is_refused() -> None:
    with pytest.raises(MarkupError, match="not a version specifier"):
        parse_text("# T\n\n% requires-python: 3.11 or newer\n```python\nx = 1\n```\n")


def test_skip_marker_needs_a_reason() -> None:
    with pytest.raises(MarkupError, match="write a skip as"):
        parse_text("# T\n\n% skip: next\n```python\nx = 1\n```\n")
    page = parse_text('# T\n\n% skip: next "needs a GPU"\n```python\nx = 1\n```\n')
    assert page.examples[0].skip_reason == "needs a GPU"


def test_headings_and_targets_outside_fences_only() -> None:
    page = parse_text("(a)=\n# One\n\n```python\n# not a heading\n```\n\n## Two\n")
    assert [(h.level, h.text, h.line) for h in page.headings] == [(1, "One", 2), (2, "Two", 8)]
    assert [(t.name, t.line) for t in page.targets] == [("a", 1)]


def test_longer_fences_hold_shorter_ones() -> None:
    page = parse_text("# T\n\n````markdown\n```python\nprint(1)\n```\n````\n")
    assert page.examples == []
    assert page.blocks[0].kind == "other"


def test_service_must_be_one_the_tooling_can_start() -> None:
    with pytest.raises(MarkupError, match=r"known: postgres\), not 'postgress'"):
        parse_text("# T\n\n% service: postgress\n```python\nx = 1\n```\n")
    page = parse_text("# T\n\n% service: postgres\n```python\nx = 1\n```\n")
    assert page.examples[0].service == "postgres"
