"""Step numbers count from 1 everywhere a person or a caller sees them: the trace, the result,
the compensations, ``pending``, reviews, the inbox, the ledger and tools' ``ctx.step``.

Payloads recorded before (workflow results and continue-as-new inputs in history, the ledger's
stored JSON) numbered a step from 0 under the key ``index``, and its compensations from 0
under ``step``. They are read as numbered from 1 here, where they are parsed, so nothing
recorded needs rewriting and every saved history still replays. The legacy key is the marker:
a container whose steps carry ``index`` numbered its compensations from 0 as well.
"""

from __future__ import annotations

from typing import Any, Final

LEGACY_KEY: Final = "index"


def step_from_legacy(data: Any) -> Any:
    """A step record as stored before: ``index`` (from 0) becomes ``step`` (from 1)."""
    if isinstance(data, dict) and LEGACY_KEY in data and "step" not in data:
        index = data[LEGACY_KEY]
        data = {key: value for key, value in data.items() if key != LEGACY_KEY}
        data["step"] = index + 1 if isinstance(index, int) else index
    return data


def compensations_from_legacy(data: Any, steps_key: str, *compensation_keys: str) -> Any:
    """A trace, result or continuation as stored before: its compensations (and saga entries)
    named their step from 0. The legacy key on its steps says so."""
    if not isinstance(data, dict):
        return data
    steps = data.get(steps_key) or []
    if not any(isinstance(step, dict) and LEGACY_KEY in step for step in steps):
        return data
    data = dict(data)
    for key in compensation_keys:
        entries = data.get(key) or []
        data[key] = [
            {**entry, "step": entry["step"] + 1}
            if isinstance(entry, dict) and isinstance(entry.get("step"), int)
            else entry
            for entry in entries
        ]
    return data
