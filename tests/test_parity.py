"""The real docs tree keeps its twins in step (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path

from handbook.parity import check_tree

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_page_has_a_matching_twin() -> None:
    problems = check_tree(DOCS)
    assert not problems, "parity problems:\n" + "\n".join(str(p) for p in problems)
