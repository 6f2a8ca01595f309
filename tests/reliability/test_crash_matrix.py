"""The crash matrix: one case per phase in the default run, all 20 as a slow test
(``pytest -m slow``, or ``python -m tests.crash_matrix``)."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from handrail.testing.scripted_model import ScriptedModelServer
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


async def test_the_short_matrix_kills_a_worker_at_each_phase(
    client: Client, model_server: ScriptedModelServer
) -> None:
    chosen = crash_matrix.short_cases()
    assert len(chosen) == 4
    line, clean = await crash_matrix.run_matrix(client, model_server, chosen, concurrency=4)
    assert clean, line
    assert line == "4 runs, 0 lost, 0 doubled, 0 left uncompensated"


@pytest.mark.slow
async def test_crash_matrix_loses_and_doubles_nothing() -> None:
    assert await crash_matrix.main() == 0
