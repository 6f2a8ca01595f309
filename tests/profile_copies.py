"""A copy of the bundled profiles with lines of ``store_actions.toml`` replaced, for the tests
of one rule: one helper, so that a change to the bundled profile breaks here, by name, rather
than as a TOML error in every test that rewrites it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

from examples.store.settings import PROFILES as STORE_PROFILES

REFUND_SHARED_LIMIT: Final = (
    'shared_limit = 200\nshared_limit_per = "order_id"\nshared_limit_window = "P1D"\n'
)
"""The bundled refund rule's limit across tasks (issue 19's safe default)."""


def store_profiles(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """The bundled profiles under ``tmp_path``, each ``(old, new)`` replaced once in
    ``store_actions.toml`` (``old`` must be there)."""
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles)
    path = profiles / "store_actions.toml"
    text = path.read_text()
    for old, new in replacements:
        assert old in text, f"the bundled store_actions.toml no longer says {old!r}"
        text = text.replace(old, new, 1)
    path.write_text(text)
    return profiles
