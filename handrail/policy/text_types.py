"""Text types for tool arguments that refuse control characters where they can do harm.

A model's arguments are untrusted: a subject with ``\\r\\nBcc: attacker@…`` is a header injection
once an email leaves, a NUL truncates a C string downstream, an ``ESC[2J`` clears the screen of
whoever prints it. The constraint is a JSON-schema ``pattern`` as well as a pydantic check, so the
model sees it in the tool's schema, the policy enforces it inside the workflow (also on a
reviewer's edit), and the tool activity enforces it again.

- ``SingleLine``: headers, names, identifiers: no control character at all (C0, DEL, C1).
- ``PlainText``: message bodies, reasons: line breaks and tabs allowed, no other control character.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Final

from pydantic import AfterValidator, Field

# Character classes both Python's ``re`` (jsonschema) and pydantic's Rust regex engine read alike.
SINGLE_LINE_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]*$"
PLAIN_TEXT_PATTERN: Final = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


def _refusing(pattern: str, what: str) -> Callable[[str], str]:
    forbidden = re.compile(pattern.replace("^[^", "[").removesuffix("]*$") + "]")

    def check(value: str) -> str:
        found = forbidden.search(value)
        if found is not None:
            raise ValueError(
                f"{what} may not contain the control character {found.group()!r} "
                f"(at position {found.start()})"
            )
        return value

    return check


# The validator gives the readable message; the schema's pattern carries the rule to the model
# and to the policy's JSON-schema check.
SingleLine = Annotated[
    str,
    AfterValidator(_refusing(SINGLE_LINE_PATTERN, "a single-line text")),
    Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN}),
]
PlainText = Annotated[
    str,
    AfterValidator(_refusing(PLAIN_TEXT_PATTERN, "a text (line breaks and tabs allowed)")),
    Field(json_schema_extra={"pattern": PLAIN_TEXT_PATTERN}),
]
