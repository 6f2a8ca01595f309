"""The fingerprint of a proposal under review: one digest, computed in one place.

Pure (no I/O, no clock, no randomness): the workflow computes it when a step starts waiting
for a reviewer, publishes it with the pending review, and its ``review`` validator refuses a
decision that names another one. A signed link carries it, so a link made for one proposal
cannot approve another.

What it covers, and why:

- the task (workflow id) and the task run (its first run id): a workflow id may be reused by a
  new run (the CLI's default reuse policy), whose step 1 is another proposal;
- the step number, the tool and the arguments **as shown** to the reviewer (sensitive ones
  redacted). Within a run a step's proposal is fixed by the recorded decision, so the shown
  arguments bind no less than the real ones would; and the digest leaves the workflow (traces,
  webhook notices, links): a digest over a hidden value would let anyone holding it test
  guesses of that value offline.

SHA-256 over canonical JSON (sorted keys, no spaces, UTF-8), with a version tag in the hashed
text so that a future change of what is covered cannot collide with today's digests.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

FINGERPRINT_VERSION: Final = "handrail-proposal-v1"


def canonical_json(value: Any) -> str:
    """One JSON text per value: sorted keys, no whitespace, non-ASCII kept as is.

    Only JSON types are accepted (a proposal's arguments are decoded JSON): anything else is a
    ``TypeError`` rather than a silent ``str()`` that two versions could render differently."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def proposal_fingerprint(
    *, task_id: str, run_id: str, step: int, tool: str, arguments: dict[str, Any]
) -> str:
    """The hex SHA-256 of the proposal: 64 lowercase hex digits."""
    text = canonical_json(
        {
            "v": FINGERPRINT_VERSION,
            "task": task_id,
            "run": run_id,
            "step": step,
            "tool": tool,
            "arguments": arguments,
        }
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
