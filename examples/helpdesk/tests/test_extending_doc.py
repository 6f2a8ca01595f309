"""docs/extending.md quotes the example: each block marked ``<!-- agent: FILE -->`` or
``<!-- quote: FILE -->`` must be in FILE, line for line and in order (lines of the file may be
left out), and the line count the page states for the agent must be the count of its blocks."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "extending.md"
MARKED = re.compile(r"^ *<!-- (agent|quote): (\S+) -->\n( *)```\w*\n(.*?)^\3```", re.M | re.S)


def quoted_blocks() -> list[tuple[str, str, list[str]]]:
    found = []
    for kind, path, _indent, body in MARKED.findall(PAGE.read_text()):
        found.append((kind, path, textwrap.dedent(body).splitlines()))
    return found


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


def test_every_quoted_block_is_in_its_file() -> None:
    blocks = quoted_blocks()
    assert len(blocks) >= 5, "the page lost its quoted blocks"
    for _kind, path, block in blocks:
        source = (ROOT / path).read_text().splitlines()
        assert is_excerpt(block, source), f"docs/extending.md quotes {path} but it says otherwise"


def test_the_stated_size_of_the_agent_is_its_size() -> None:
    counted = sum(
        sum(1 for line in block if line.strip())
        for kind, _path, block in quoted_blocks()
        if kind == "agent"
    )
    stated = re.search(r"is \*\*(\d+) lines\*\*", PAGE.read_text())
    assert stated is not None
    assert int(stated.group(1)) == counted
    assert counted < 100
