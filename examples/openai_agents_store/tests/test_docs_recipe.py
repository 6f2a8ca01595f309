"""The docs quote the example's recipe: the block marked ``<!-- quote: .../workflow.py -->`` is
the lines between the ``governed-recipe`` markers of the workflow, line for line, and the page
says how many they are (under 40)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCE = "examples/openai_agents_store/workflow.py"
QUOTED = re.compile(rf"^<!-- quote: {re.escape(SOURCE)} -->\n```python\n(.*?)^```", re.M | re.S)


def _recipe() -> list[str]:
    lines = (ROOT / SOURCE).read_text().splitlines()
    start = lines.index("# governed-recipe: start")
    end = lines.index("# governed-recipe: end")
    return [line for line in lines[start + 1 : end] if line.strip()]


def _pages() -> list[Path]:
    return [page for page in (ROOT / "docs").glob("*.md") if SOURCE in page.read_text()]


def test_the_docs_quote_the_recipe_as_the_example_has_it() -> None:
    pages = _pages()
    assert pages, f"no page of docs/ quotes {SOURCE}"
    recipe = _recipe()
    assert len(recipe) < 40
    for page in pages:
        text = page.read_text()
        [quoted] = QUOTED.findall(text)
        assert [line for line in quoted.splitlines() if line.strip()] == recipe, page
        assert f"The recipe: {len(recipe)} lines" in text, page
