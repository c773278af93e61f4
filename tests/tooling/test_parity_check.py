"""The parity check catches every kind of drift between twins (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from handbook.parity import check_tree

ENGLISH = """\
(closing)=
# Closing generators

## Why

```python
async def numbers():
    # yield two numbers
    yield 1
    yield 2


print(f"total: {1 + 2} items")
```

```{code-block} text
:class: output
:caption: Output
total: 3 items
```
"""

CHINESE = """\
(closing)=
# 关闭生成器

## 为什么

```python
async def numbers():
    # 产出两个数
    yield 1
    yield 2


print(f"合计：{1 + 2} 项")
```

```{code-block} text
:class: output
:caption: 输出
合计：3 项
```
"""


def write_pair(root: Path, english: str, chinese: str, name: str = "page.md") -> Path:
    docs = root / "docs"
    for language, text in (("en", english), ("zh", chinese)):
        (docs / language).mkdir(parents=True, exist_ok=True)
        (docs / language / name).write_text(text, encoding="utf-8")
    return docs


def problems(tmp_path: Path, english: str, chinese: str) -> list[str]:
    return [str(problem) for problem in check_tree(write_pair(tmp_path, english, chinese))]


def test_translated_strings_and_comments_are_allowed(tmp_path: Path) -> None:
    assert problems(tmp_path, ENGLISH, CHINESE) == []


def test_missing_twin_is_reported(tmp_path: Path) -> None:
    docs = write_pair(tmp_path, ENGLISH, CHINESE)
    (docs / "en" / "only-english.md").write_text(ENGLISH, encoding="utf-8")
    [problem] = [str(p) for p in check_tree(docs)]
    assert problem == (
        "docs/en/only-english.md:1 <-> docs/zh/only-english.md:0: the Chinese twin is missing"
    )


def test_heading_level_mismatch_names_both_lines(tmp_path: Path) -> None:
    chinese = CHINESE.replace("## 为什么", "### 为什么")
    [problem] = problems(tmp_path, ENGLISH, chinese)
    assert problem.startswith("docs/en/page.md:4 <-> docs/zh/page.md:4: heading 2 is level 2")


def test_extra_heading_is_reported(tmp_path: Path) -> None:
    chinese = CHINESE + "\n## 多出来的一节\n"
    [problem] = problems(tmp_path, ENGLISH, chinese)
    assert "docs/zh/page.md:22" in problem
    assert "exists in Chinese only" in problem


def test_target_mismatch_is_reported(tmp_path: Path) -> None:
    chinese = CHINESE.replace("(closing)=", "(guanbi)=")
    [problem] = problems(tmp_path, ENGLISH, chinese)
    assert problem == (
        "docs/en/page.md:1 <-> docs/zh/page.md:1: target 1 differs: "
        "(closing)= in English, (guanbi)= in Chinese"
    )


def test_renamed_identifier_is_reported_with_its_lines(tmp_path: Path) -> None:
    chinese = CHINESE.replace("async def numbers", "async def shuzi")
    [problem] = problems(tmp_path, ENGLISH, chinese)
    assert problem.startswith("docs/en/page.md:7 <-> docs/zh/page.md:7: code block 1:")
    assert "name 'numbers' in English, 'shuzi' in Chinese" in problem


def test_changed_number_is_reported(tmp_path: Path) -> None:
    chinese = CHINESE.replace("yield 2", "yield 3")
    [problem] = problems(tmp_path, ENGLISH, chinese)
    assert "docs/en/page.md:10 <-> docs/zh/page.md:10" in problem


def test_output_block_in_one_language_only_is_reported(tmp_path: Path) -> None:
    chinese = CHINESE[: CHINESE.index("```{code-block}")]
    [problem] = problems(tmp_path, ENGLISH, chinese)
    assert "code block 2 (output) exists in English only" in problem
    assert problem.startswith("docs/en/page.md:16 <-> docs/zh/page.md:15:")


def test_marker_mismatch_is_reported(tmp_path: Path) -> None:
    chinese = CHINESE.replace("```python", "% requires-python: >=3.11\n```python", 1)
    [problem] = problems(tmp_path, ENGLISH, chinese)
    assert "markers differ: none in English, % requires-python: >=3.11 in Chinese" in problem


@pytest.mark.parametrize("language", ["bash", "toml"])
def test_other_block_kinds_must_match(tmp_path: Path, language: str) -> None:
    english = ENGLISH + "\n```bash\npip install aiocleanup\n```\n"
    chinese = CHINESE + f"\n```{language}\npip install aiocleanup\n```\n"
    found = problems(tmp_path, english, chinese)
    assert found == [] if language == "bash" else len(found) == 1


def test_dict_unpacking_is_not_a_difference(tmp_path: Path) -> None:
    code = "```python\nmerged = {**{'a': 1}, **{'b': 2}}\nprint(merged)\n```\n"
    assert problems(tmp_path, "# T\n\n" + code, "# 标题\n\n" + code) == []
