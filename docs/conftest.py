"""Every python block of every page is a test item (DESIGN §3).

The hooks live in docs/_shared/handbook/pytest_plugin.py (pytest's
``pythonpath`` setting puts docs/_shared on sys.path); this file only says
where the language trees are.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from handbook.pytest_plugin import register


def pytest_configure(config: pytest.Config) -> None:
    register(config, Path(__file__).parent)
