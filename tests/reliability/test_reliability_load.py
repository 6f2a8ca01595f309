"""Load with faults (issue 13): tasks under a random mix of model and tool faults lose, double,
let through and leak nothing, as counted from the sources by ``tests.reliability_audit``; with a
safeguard switched off on purpose, the same audit counts what slipped through.

The full run is slow and run on purpose: ``pytest -m slow
tests/reliability/test_reliability_load.py`` or ``python -m tests.reliability_load`` (1,000
tasks).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from handrail.testing.scripted_model import ScriptedModelServer
from tests.reliability_load import run_load


async def test_a_load_with_faults_loses_doubles_and_leaks_nothing(
    client: Client, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    result = await run_load(client, model_server, tmp_path, tasks=30, seed=11, timeout=300)
    assert result.clean, (result.line(), result.lost, result.doubled, result.unreviewed)
    assert (
        result.line() == "30 tasks, 0 lost, 0 doubled, 0 unreviewed risky actions, 0 leaked secrets"
    )
    assert sum(result.endings.values()) == 30


@pytest.mark.parametrize(
    ("unsafe", "figure"), [("idempotency", "doubled"), ("review", "unreviewed")]
)
async def test_the_audit_counts_what_a_disabled_safeguard_lets_through(
    client: Client, model_server: ScriptedModelServer, tmp_path: Path, unsafe: str, figure: str
) -> None:
    result = await run_load(
        client, model_server, tmp_path, tasks=12, seed=5, unsafe=unsafe, timeout=300
    )
    assert not result.clean
    assert getattr(result, figure), result.line()


@pytest.mark.slow
async def test_a_thousand_tasks_with_faults(
    client: Client, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    result = await run_load(client, model_server, tmp_path, tasks=1000, seed=7)
    print(result.line(), dict(result.endings))
    assert result.clean, (result.lost[:5], result.doubled[:5], result.unreviewed[:5])
