"""docs/_shared/handbook/DESIGN.md is the design contract: citations point into it.

Code, tests and benchmarks cite it as "DESIGN §N"; each cited section must
exist, and the scripts that cannot import handbook.config must spell its
variable names as it does.
"""

from __future__ import annotations

import re
from pathlib import Path

from handbook import config

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "_shared" / "handbook" / "DESIGN.md"
CITATION = re.compile(r"DESIGN §(\d+)(?:\.(\d+))?")
CITING = ["docs/_shared/handbook", "docs/conftest.py", "tests", "benchmarks", "noxfile.py"]


def sections() -> set[str]:
    found = set()
    for line in DESIGN.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", line)
        if match:
            found.add(match.group(1))
    return found


def test_every_design_citation_names_a_section_that_exists() -> None:
    known = sections()
    assert {"3", "3.3", "4", "6", "7", "8", "9"} <= known
    cited: list[tuple[str, str]] = []
    for place in CITING:
        path = ROOT / place
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            for match in CITATION.finditer(file.read_text(encoding="utf-8")):
                section = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
                cited.append((str(file.relative_to(ROOT)), section))
    assert cited, "nothing cites DESIGN"
    assert [(file, section) for file, section in cited if section not in known] == []


def test_scripts_in_the_example_interpreter_spell_the_variables_as_config() -> None:
    site = (DESIGN.parent / "_site" / "sitecustomize.py").read_text(encoding="utf-8")
    for name in (config.LEAK_REPORT_VARIABLE, config.ORIGINAL_PYTHONPATH_VARIABLE):
        assert f'"{name}"' in site
