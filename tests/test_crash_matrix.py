"""The crash matrix as a slow test: ``pytest -m slow`` (or ``python -m tests.crash_matrix``)."""

from __future__ import annotations

import pytest

from tests import crash_matrix


def test_matrix_covers_every_phase() -> None:
    cases = crash_matrix.cases()
    assert len(cases) >= 20
    phases = {(c.point, c.name in crash_matrix.COMPENSATIONS.values()) for c in cases}
    # before and after commit, of actions and of compensations
    assert phases == {
        ("before_commit", False),
        ("after_commit", False),
        ("before_commit", True),
        ("after_commit", True),
    }


@pytest.mark.slow
async def test_crash_matrix_loses_and_doubles_nothing() -> None:
    assert await crash_matrix.main() == 0
