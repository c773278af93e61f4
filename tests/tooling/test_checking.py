"""Output comparison: wildcards, whitespace, traceback tails, diffs."""

from __future__ import annotations

from handbook.checking import compare


def test_trailing_whitespace_and_blank_lines_are_ignored() -> None:
    assert compare("a\nb\n", "a  \nb\n\n\n") is None


def test_wildcard_inside_a_line() -> None:
    assert compare("<object at ...>", "<object at 0x7f3a>") is None
    assert compare("<object at ...>", "<thing at 0x7f3a>") is not None


def test_wildcard_line_matches_any_number_of_lines() -> None:
    assert compare("start\n...\nend", "start\nend") is None
    assert compare("start\n...\nend", "start\n1\n2\n3\nend") is None
    assert compare("start\n...\nend", "start\n1\n2\n3\nfinish") is not None


def test_leading_whitespace_matters() -> None:
    assert compare("  indented", "indented") is not None


def test_traceback_compares_only_text_before_and_exception_lines() -> None:
    expected = (
        'before\nTraceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n'
    )
    actual = (
        "before\nTraceback (most recent call last):\n"
        '  File "/tmp/a/example.py", line 7, in <module>\n'
        "    main()\n    ~~~~^^\nValueError: boom\n"
    )
    assert compare(expected, actual) is None
    assert compare(expected, actual.replace("boom", "bang")) is not None
    assert compare(expected, actual.replace("before", "after")) is not None


def test_exception_group_tracebacks_compare_their_exception_lines() -> None:
    expected = (
        "Traceback (most recent call last):\n"
        "ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)\n"
        "ValueError: boom\n"
    )
    actual = (
        "  + Exception Group Traceback (most recent call last):\n"
        '  |   File "example.py", line 9, in <module>\n'
        "  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)\n"
        "  +-+---------------- 1 ----------------\n"
        "    | Traceback (most recent call last):\n"
        '    |   File "example.py", line 5, in boom\n'
        "    | ValueError: boom\n"
        "    +------------------------------------\n"
    )
    assert compare(expected, actual) is None


def test_diff_uses_page_lines_for_the_expected_side() -> None:
    diff = compare("a\nb\nc", "a\nB\nc", first_line=40, expected_label="page", actual_label="run")
    assert diff is not None
    assert diff.splitlines()[:3] == ["--- page", "+++ run", "@@ -40,3 +1,3 @@"]
    assert "-b\n+B" in diff


def test_diff_does_not_flag_lines_matched_by_wildcards() -> None:
    diff = compare("id ...\nvalue 1", "id 99\nvalue 2")
    assert diff is not None
    assert "-id" not in diff
    assert " id 99" in diff
