"""A reviewer edits what they were shown: a sensitive argument shown as ``[redacted]`` keeps the
model's value unless the reviewer typed a new one (before, the placeholder itself was sent)."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio.client import Client

from examples.store.database import create_store, snapshot
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.policy.redaction import REDACTED
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.review_helpers import PROFILE, answer, email, wait_for_pending


async def test_an_edit_keeps_the_hidden_body_it_did_not_change(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles)
    actions = profiles / f"{PROFILE}.toml"  # emails reviewed, so that one can be edited
    actions.write_text(
        actions.read_text().replace(
            '[rules.send_email]\nautonomy = "autonomous"',
            '[rules.send_email]\nautonomy = "suggest"',
        )
    )
    reviewed = settings.model_copy(update={"profiles_dir": profiles})
    create_store(store_db_path(reviewed))
    model_server.brain = Scenario([email(1001), answer("Emailed")])
    handrail = HandrailClient(client, reviewed)
    async with running_worker(client, reviewed):
        handle = await handrail.start_task({"goal": "Email order 1001", "profile": PROFILE})
        pending = await wait_for_pending(handrail, handle.id)
        assert pending.tool == "send_email"
        assert pending.arguments["body"] == REDACTED  # what the reviewer sees
        shown = {k: v for k, v in pending.arguments.items() if k in ("order_id", "subject", "body")}
        edit = {**shown, "subject": "About your refund"}  # the form sends back what it showed
        await handrail.review(
            handle.id,
            {"reviewer": "bob", "step": pending.step, "verdict": "edit", "arguments": edit},
        )
        result = await handrail.get_result(handle.id)

    assert result.status == "answered"
    (row,) = snapshot(store_db_path(reviewed))["outbox"]
    assert "About your refund" in row  # the reviewer's subject
    assert "Refunded." in row  # the model's body, not the placeholder
    assert REDACTED not in row
    assert result.steps[0].review is not None
    assert result.steps[0].review.arguments == {**edit, "body": REDACTED}  # shown redacted
