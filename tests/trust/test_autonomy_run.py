"""Earned autonomy end to end: a demotion applied to the profile file changes what the next
real run does (a refund that ran on its own now waits for a reviewer)."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from handrail.trust.promotion import apply_change
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending


async def test_a_demotion_changes_the_gate_in_the_next_run(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles)
    local = settings.model_copy(update={"profiles_dir": profiles})
    create_store(store_db_path(local))
    handrail = HandrailClient(client, local)

    async with running_worker(client, local):
        model_server.brain = Scenario([refund(1001, "10.00"), answer()])
        before = await handrail.get_result(
            (await handrail.start_task({"goal": "g", "profile": PROFILE})).id
        )
        assert before.steps[0].gate is not None
        assert before.steps[0].gate.action == "auto"

        apply_change(
            profiles,
            PROFILE,
            "issue_refund",
            "demote",
            "carol",
            "audit season",
            log_path=local.data_dir / "autonomy_log.jsonl",
        )

        model_server.brain = Scenario([refund(1001, "10.00"), answer()])
        handle = await handrail.start_task({"goal": "g", "profile": PROFILE})
        pending = await wait_for_pending(handrail, handle.id)
        assert pending.reason == "issue_refund is at autonomy 'suggest'"
        await handrail.review(handle.id, {"reviewer": "alice", "step": 1, "verdict": "approve"})
        after = await handrail.get_result(handle.id)
    assert after.steps[0].review is not None
    assert after.steps[0].review.verdict == "approve"
