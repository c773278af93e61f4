"""Comparing what an example printed with the output block on its page.

Rules (DESIGN §3.3):

* trailing whitespace on each line and trailing blank lines are ignored;
* ``...`` matches any text; a line that is only ``...`` matches any number of
  whole lines, none included;
* when the expected output shows ``Traceback (most recent call last):``, only
  the text before it and the exception lines after it (the lines that are not
  indented frames) are compared, on both sides.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

__all__ = ["ExpectedLine", "compare", "normalise"]

TRACEBACK_HEADER = "Traceback (most recent call last):"
WILDCARD = "..."
# Exception groups (3.11+) draw boxes: "  | ", "  +-+---- 1 ----", "    +------".
_BOX_PREFIX = re.compile(r"^(?:[ \t]*\|[ ]?)+")
_BOX_BORDER = re.compile(r"^[ \t]*\+[-+ \d.]*(?:-{3,}.*)?$")


@dataclass(frozen=True)
class ExpectedLine:
    text: str
    line: int  # line on the page, or 0 when unknown


def normalise(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _traceback_tail(lines: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Keep the text before the first traceback and the exception lines after."""
    kept: list[tuple[str, int]] = []
    in_traceback = False
    for text, number in lines:
        if TRACEBACK_HEADER in text:
            in_traceback = True
            continue
        if not in_traceback:
            kept.append((text, number))
            continue
        if _BOX_BORDER.match(text):
            continue
        unboxed = _BOX_PREFIX.sub("", text)
        if not unboxed.strip() or unboxed[:1] in (" ", "\t"):
            continue
        kept.append((unboxed, number))
    return kept


def _line_pattern(line: str) -> str:
    return ".*?".join(re.escape(part) for part in line.split(WILDCARD))


def _matches(expected: list[str], actual: list[str]) -> bool:
    pattern = []
    for line in expected:
        if line.strip() == WILDCARD:
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(_line_pattern(line) + r"\n")
    regex = re.compile("".join(pattern), re.DOTALL)
    return regex.fullmatch("".join(line + "\n" for line in actual)) is not None


def _line_matches(expected: str, actual: str) -> bool:
    return re.fullmatch(_line_pattern(expected), actual, re.DOTALL) is not None


def compare(
    expected: str,
    actual: str,
    *,
    first_line: int = 1,
    expected_label: str = "expected",
    actual_label: str = "actual",
) -> str | None:
    """Return None when ``actual`` matches ``expected``, else a unified diff.

    ``first_line`` is the page line of the expected text's first line; the
    diff's hunk headers use page lines for the expected side.
    """
    expected_lines = [
        (text, first_line + offset) for offset, text in enumerate(normalise(expected))
    ]
    actual_lines = [(text, offset + 1) for offset, text in enumerate(normalise(actual))]
    if any(TRACEBACK_HEADER in text for text, _ in expected_lines):
        expected_lines = _traceback_tail(expected_lines)
        actual_lines = _traceback_tail(actual_lines)
    want = [text for text, _ in expected_lines]
    got = [text for text, _ in actual_lines]
    if _matches(want, got):
        return None
    return _diff(expected_lines, actual_lines, expected_label, actual_label)


def _diff(
    expected: list[tuple[str, int]],
    actual: list[tuple[str, int]],
    expected_label: str,
    actual_label: str,
) -> str:
    # Show expected lines that match through a wildcard as the actual text,
    # so the diff only marks the lines that really differ.
    shown = [text for text, _ in expected]
    got = [text for text, _ in actual]
    matcher = difflib.SequenceMatcher(None, shown, got, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace":
            for offset in range(min(i2 - i1, j2 - j1)):
                if WILDCARD in shown[i1 + offset] and _line_matches(
                    shown[i1 + offset], got[j1 + offset]
                ):
                    shown[i1 + offset] = got[j1 + offset]
    out = [f"--- {expected_label}", f"+++ {actual_label}"]
    matcher = difflib.SequenceMatcher(None, shown, got, autojunk=False)
    for group in matcher.get_grouped_opcodes(3):
        i1, i2 = group[0][1], group[-1][2]
        j1, j2 = group[0][3], group[-1][4]
        start_expected = expected[i1][1] if i1 < len(expected) else _after(expected)
        start_actual = actual[j1][1] if j1 < len(actual) else _after(actual)
        out.append(f"@@ -{start_expected},{i2 - i1} +{start_actual},{j2 - j1} @@")
        for operation, a1, a2, b1, b2 in group:
            if operation == "equal":
                out.extend(" " + line for line in shown[a1:a2])
                continue
            out.extend("-" + line for line in shown[a1:a2])
            out.extend("+" + line for line in got[b1:b2])
    return "\n".join(out)


def _after(lines: list[tuple[str, int]]) -> int:
    return lines[-1][1] + 1 if lines else 1
