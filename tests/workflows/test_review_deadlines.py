"""Review deadlines on the time-skipping test server: days of waiting in seconds of real time.
A tier whose deadline passes escalates to the next; after the last, the task fails safe."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from examples.store.database import create_store, snapshot
from examples.store.settings import store_db_path
from examples.store.worker import running_worker, store_settings
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.kit import settings_for_test
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.review_helpers import PROFILE, answer, discount, refund, wait_for_pending


@pytest.fixture
def skip_settings(
    tmp_path: Path, model_server: ScriptedModelServer, skipping_env: WorkflowEnvironment
) -> HandrailSettings:
    settings = store_settings(
        settings_for_test(
            skipping_env.client,
            tmp_path / "data",
            openai_base_url=model_server.base_url,
            openai_api_key=SecretStr("skipping"),
        )
    )
    create_store(store_db_path(settings))
    return settings


async def test_an_unanswered_review_escalates_then_fails_safe_after_two_days(
    skipping_env: WorkflowEnvironment,
    skip_settings: HandrailSettings,
    model_server: ScriptedModelServer,
) -> None:
    before = snapshot(store_db_path(skip_settings))
    model_server.brain = Scenario([discount(1003, "5.00"), refund(1003, "80.00"), answer()])
    handrail = HandrailClient(skipping_env.client, skip_settings)
    started = time.monotonic()
    async with running_worker(skipping_env.client, skip_settings):
        handle = await handrail.start_task({"goal": "Resolve it", "profile": PROFILE})
        # Waiting on the handle from start_workflow lets the server skip time while nothing
        # runs: 1 h (support) + 1 day (managers).
        result = await handle.result()
    elapsed = time.monotonic() - started

    assert result.status == "review_expired"
    refund_step = result.steps[1]
    assert refund_step.escalations == ["support", "managers"]
    assert refund_step.review is None
    assert refund_step.outcome is None  # the refund never ran
    assert [(c.tool, c.status) for c in result.compensations] == [("apply_discount", "undone")]
    assert snapshot(store_db_path(skip_settings)) == before
    assert elapsed < 30, f"a 25-hour wait took {elapsed:.1f} s of real time"


async def test_a_passed_deadline_hands_the_review_to_the_next_tier(
    skipping_env: WorkflowEnvironment,
    skip_settings: HandrailSettings,
    model_server: ScriptedModelServer,
) -> None:
    model_server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    handrail = HandrailClient(skipping_env.client, skip_settings)
    async with running_worker(skipping_env.client, skip_settings):
        handle = await handrail.start_task({"goal": "Resolve it", "profile": PROFILE})
        first = await wait_for_pending(handrail, handle.id, tier="support")
        assert first.reviewers == ["alice", "bob", "carol"]
        await skipping_env.sleep(timedelta(hours=2))  # past support's 1 h deadline
        second = await wait_for_pending(handrail, handle.id, tier="managers")
        assert second.reviewers == ["carol"]
        assert second.deadline_at - second.requested_at == timedelta(days=1)
        # alice belonged to the tier that timed out: she may no longer decide.
        trace_before = await handrail.get_trace(handle.id)
        assert trace_before.steps[0].escalations == ["support"]
        await handrail.review(handle.id, {"reviewer": "carol", "step": 1, "verdict": "approve"})
        result = await handrail.get_result(handle.id)

    assert result.status == "answered"
    step = result.steps[0]
    assert step.review is not None
    assert (step.review.reviewer, step.review.tier) == ("carol", "managers")
    assert step.review.wait_seconds >= 2 * 3600  # measured on the workflow's (skipped) clock
    assert step.outcome is not None
    assert step.outcome.ok


async def test_a_day_long_wait_does_not_spend_the_time_budget(
    skipping_env: WorkflowEnvironment,
    skip_settings: HandrailSettings,
    model_server: ScriptedModelServer,
) -> None:
    # store_actions allows 600 s of the agent's own time; waiting for people does not count.
    model_server.brain = Scenario(
        [refund(1003, "80.00"), refund(1003, "20.00"), answer("Both refunded")]
    )
    handrail = HandrailClient(skipping_env.client, skip_settings)
    async with running_worker(skipping_env.client, skip_settings):
        handle = await handrail.start_task({"goal": "Resolve it", "profile": PROFILE})
        await wait_for_pending(handrail, handle.id)
        await skipping_env.sleep(timedelta(hours=20))  # past support (1 h), within managers (1 d)
        await wait_for_pending(handrail, handle.id, tier="managers")
        await handrail.review(handle.id, {"reviewer": "carol", "step": 1, "verdict": "approve"})
        result = await handle.result()
    assert result.status == "answered"
    assert [s.outcome.ok if s.outcome else None for s in result.steps] == [True, True, None]
