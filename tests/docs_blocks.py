"""The code blocks of README.md and docs/*.md, as ``tests/project/test_docs_code.py`` checks them.

A block is a fenced block (indented ones in lists too). The HTML comment on the line before it,
if any, says how it is checked when it cannot simply run:

- ``<!-- agent: FILE -->`` / ``<!-- quote: FILE -->``: an excerpt of FILE, which runs in CI
  (``examples/helpdesk/tests/test_extending_doc.py`` checks it is in FILE, line for line);
- ``<!-- continues -->``: runs after the page's earlier Python blocks, in their namespace;
- ``<!-- signature: NAME -->``: a call's shape (``...`` for values): every keyword it passes is
  a parameter of ``handrail.NAME``;
- ``<!-- not run: WHY -->``: not run, for the reason given (kept few, and visible here).

Shell blocks are split into simple commands (``commands``) so that each program's own parser
can judge them without running anything.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.M | re.S)
_MARKER = re.compile(r"^\s*<!-- ([\w ]+?)(?::\s*(.*?))? -->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    """The line of the opening fence (1-based), for test ids and tracebacks."""
    language: str
    body: str
    marker: str = ""
    argument: str = ""

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(pages: list[Path] = PAGES) -> list[Block]:
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = _MARKER.match(before)
            indent = len(match.group(1))
            body = "\n".join(row[indent:] for row in match.group(3).splitlines())
            found.append(
                Block(
                    page=str(page.relative_to(ROOT)),
                    line=line,
                    language=match.group(2) or "text",
                    body=body + "\n",
                    marker=marker.group(1) if marker else "",
                    argument=(marker.group(2) or "") if marker else "",
                )
            )
    return found


def of_language(*languages: str) -> list[Block]:
    return [block for block in blocks() if block.language in languages]


def python_source(block: Block) -> str:
    """The block's code, placed at its lines of the page so that a traceback points there."""
    return "\n" * block.line + block.body


def chain(block: Block) -> list[Block]:
    """The Python blocks a ``continues`` block runs after, from the last one that does not
    continue, and the block itself."""
    earlier = [b for b in of_language("python") if b.page == block.page and b.line < block.line]
    run = [block]
    for previous in reversed(earlier):
        if previous.marker in ("agent", "quote", "not run", "signature"):
            continue
        run.insert(0, previous)
        if previous.marker != "continues":
            break
    return run


def merged(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """``fragment`` laid over ``base``, tables merged key by key (a profile excerpt over a
    whole profile)."""
    result = dict(base)
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


# --- shell ------------------------------------------------------------------------------------

_SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;"}
_KEYWORDS = {"do", "then", "else", "done", "fi"}
_REDIRECTS = {">", ">>", "<", "2>", "2>&1"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SUBSTITUTION = re.compile(r"\$\([^)]*\)")  # $(date +%F): one word, not a command of ours


def commands(script: str) -> Iterator[list[str]]:
    """Each simple command of ``script`` as its words: comments, continuation lines, shell
    keywords and ``VAR=value`` prefixes taken off (an assignment alone is a command of its
    own, ``["VAR=value"]``), prompts (``$ ``) of console blocks too."""
    text = _SUBSTITUTION.sub("VALUE", script.replace("\\\n", " "))
    for row in text.splitlines():
        row = row.removeprefix("$ ")
        lexer = shlex.shlex(row, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        words = iter([*lexer, ";"])
        for word in words:
            if word in _REDIRECTS:
                next(words)  # the file: not an argument
            elif word in _SEPARATORS:
                yield from _simple(current)
                current = []
            elif not current and word in _KEYWORDS:
                continue
            else:
                current.append(word)


def _simple(words: list[str]) -> Iterator[list[str]]:
    if not words:
        return
    assignments = [w for w in words if _ASSIGNMENT.match(w)]
    rest = words[len(assignments) :] if words[: len(assignments)] == assignments else words
    for assignment in words[: len(words) - len(rest)]:
        yield [assignment]
    if rest:
        yield rest


def flags(words: list[str]) -> list[str]:
    """The long options a command line passes (``--wait``, ``--as`` of ``--as=x``)."""
    return [w.split("=", 1)[0] for w in words if w.startswith("--") and len(w) > 2]
