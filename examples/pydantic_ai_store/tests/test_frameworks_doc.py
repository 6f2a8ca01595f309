"""The pydantic-ai section of the framework docs quotes this example: each block marked
``<!-- agent: FILE -->`` or ``<!-- quote: FILE -->`` with a FILE of this example is in FILE,
line for line and in order (lines of the file may be left out), and the number of added lines
the page states is the count of its ``agent`` blocks, under 40."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# The marker and the excerpt rule of examples/helpdesk/tests/test_extending_doc.py, which
# checks docs/extending.md (that folder is no package: its module cannot be imported from here).
MARKED = re.compile(r"^ *<!-- (agent|quote): (\S+) -->\n( *)```\w*\n(.*?)^\3```", re.M | re.S)
EXAMPLE = "examples/pydantic_ai_store/"
PAGE = ROOT / "docs/frameworks.md"


def _quotes_this_example(page: Path) -> bool:
    return page.exists() and f": {EXAMPLE}" in page.read_text()


PAGES = [page for page in (PAGE,) if _quotes_this_example(page)]


def test_a_page_quotes_this_example() -> None:
    assert PAGES, "no page of docs/ quotes examples/pydantic_ai_store any more"


def is_excerpt(block: list[str], source: list[str]) -> bool:
    """Every non-blank line of ``block`` is a line of ``source``, in the same order, with the
    same indentation relative to the block's first line."""
    wanted = [line for line in block if line.strip()]
    if not wanted:
        return False
    for start, line in enumerate(source):
        if line.strip() != wanted[0].strip():
            continue
        shift = len(line) - len(line.lstrip()) - (len(wanted[0]) - len(wanted[0].lstrip()))
        rest = iter(source[start + 1 :])
        if all(any(" " * shift + w == s for s in rest) for w in wanted[1:]):
            return True
    return False


def _blocks(page: Path) -> list[tuple[str, str, list[str]]]:
    return [
        (kind, path, body.splitlines())
        for kind, path, _indent, body in MARKED.findall(page.read_text())
        if path.startswith(EXAMPLE)
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_quoted_block_is_in_the_example(page: Path) -> None:
    blocks = _blocks(page)
    assert len(blocks) >= 3, f"{page.name} lost the pydantic-ai example's blocks"
    for _kind, path, block in blocks:
        source = (ROOT / path).read_text().splitlines()
        assert is_excerpt(block, source), f"{page.name} quotes {path} but it says otherwise"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_stated_number_of_added_lines_is_true(page: Path) -> None:
    counted = sum(
        sum(1 for line in block if line.strip())
        for kind, _path, block in _blocks(page)
        if kind == "agent"
    )
    stated = re.search(
        r"Handrail adds to an existing agent is \*\*(\d+) lines\*\*", page.read_text()
    )
    assert stated is not None
    assert int(stated.group(1)) == counted
    assert counted < 40
    assert f"in {counted} added lines" in page.read_text()


def test_every_line_marked_handrail_in_the_agent_is_quoted() -> None:
    [page] = PAGES[:1]
    quoted = {
        line.strip() for kind, path, block in _blocks(page) if kind == "agent" for line in block
    }
    agent = (ROOT / EXAMPLE / "agent.py").read_text().splitlines()
    marked = {
        line.strip()
        for line in agent
        if line.rstrip().endswith("# Handrail") or "# Handrail:" in line
    }
    assert marked <= quoted, marked - quoted
