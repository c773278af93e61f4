"""Sphinx configuration of the zh site; everything shared is in docs/_shared."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_shared"))

from handbook.sphinx_conf import configure

globals().update(configure("zh"))
