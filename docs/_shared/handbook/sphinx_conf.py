"""Sphinx configuration shared by the English and the Chinese project.

``docs/en/conf.py`` and ``docs/zh/conf.py`` each call :func:`configure` with
their language and copy the result into their namespace.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from handbook.config import LANGUAGE_SETTINGS
from handbook.inventory import ensure_python_inventory

SHARED = Path(__file__).resolve().parent.parent
DOCS = SHARED.parent
BUILD = DOCS / "_build"

PYTHON_DOCS = "https://docs.python.org/3"


def configure(language: str) -> dict[str, Any]:
    """Every Sphinx setting for the project of ``language`` ("en" or "zh")."""
    settings = LANGUAGE_SETTINGS[language]
    if language == "zh":
        _quiet_jieba()
    return {
        "project": settings.project,
        "author": "The Async Cleanup Handbook authors",
        "copyright": "the Async Cleanup Handbook authors",
        "language": settings.sphinx_language,
        "handbook_language": language,
        "extensions": [
            "myst_parser",
            "sphinx.ext.autodoc",
            "sphinx.ext.intersphinx",
            # The package's docstrings use Google style (Args:, Raises:);
            # napoleon must come before sphinx_autodoc_typehints.
            "sphinx.ext.napoleon",
            "sphinx_autodoc_typehints",
            "sphinx_copybutton",
            "handbook.sphinx_ext",
            "handbook.glossary",
            "handbook.navigation",
        ],
        "source_suffix": {".md": "markdown"},
        "root_doc": "index",
        "exclude_patterns": ["_build", "**/_build"],
        "templates_path": [str(SHARED / "templates")],
        "html_static_path": [str(SHARED / "static")],
        "html_css_files": ["handbook.css"],
        "html_js_files": ["handbook.js"],
        "locale_dirs": [str(SHARED / "locale")],
        "gettext_compact": False,
        "html_theme": "furo",
        "html_title": settings.project,
        "html_search_language": settings.search_language,
        # For Chinese, Sphinx otherwise loads jieba's own dictionary a second
        # time as a "user dictionary", which adds nothing and costs seconds.
        "html_search_options": {"dict": ""} if language == "zh" else {},
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_theme_options": {
            "navigation_with_keys": True,
            "top_of_page_buttons": [],
        },
        "html_sidebars": {
            "**": [
                "sidebar/brand.html",
                "sidebar/language-switch.html",
                "sidebar/search.html",
                "sidebar/scroll-start.html",
                "sidebar/navigation.html",
                "sidebar/scroll-end.html",
            ]
        },
        "myst_heading_anchors": 3,
        "myst_enable_extensions": ["deflist"],
        "pygments_style": "friendly",
        "pygments_dark_style": "monokai",
        # Copy python and shell code; never output blocks, never prompts.
        # (Double quotes only: copybutton pastes this into a single-quoted
        # JavaScript string.)
        "copybutton_selector": 'div[class*="highlight-"]:not(.output) > div.highlight > pre',
        "copybutton_exclude": ".linenos, .gp, .go",
        "copybutton_prompt_text": "",
        # Offline builds: the inventory is generated from the local
        # interpreter, the links still point at docs.python.org.
        "intersphinx_mapping": {
            "python": (
                PYTHON_DOCS,
                str(ensure_python_inventory(BUILD / "inventories" / "python.inv")),
            ),
        },
        "autodoc_member_order": "bysource",
        "autodoc_typehints": "description",
        "typehints_use_signature": False,
        "always_document_param_types": False,
        "nitpicky": True,
        # Type variables in signatures are not documented objects.
        "nitpick_ignore_regex": [("py:class", r"aiocleanup\.\w+\.(T|StepT)")],
        "suppress_warnings": ["myst.header"],
    }


def _quiet_jieba() -> None:
    """jieba (Chinese word segmentation for the search index) logs at INFO."""
    try:
        import jieba
    except ImportError:
        return
    jieba.setLogLevel(logging.WARNING)
