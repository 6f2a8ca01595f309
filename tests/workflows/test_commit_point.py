"""The commit point tells the truth: an action held back to it that is refused or fails there
stops the commit, the answer is not delivered, the task ends ``commit_failed`` (result, trace,
ledger, the ``HandrailStatus`` search attribute, ``stats``), and the earlier reversible effects
are rolled back, or kept when the profile says so. Real dev server, real worker, real store."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError

from examples.store.database import create_store, snapshot
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail import ToolContext, ToolRefused, UndoContext, compensation, tool
from handrail import search_attributes as sa
from handrail.cli.trace_format import format_result
from handrail.client.core import HandrailClient
from handrail.errors import InvalidProfileError
from handrail.profiles.catalog import ProfileCatalog
from handrail.reports.render_html import format_html
from handrail.reports.render_text import format_table
from handrail.reports.stats import compute_stats
from handrail.settings import HandrailSettings
from handrail.storage.ledger import RunLedger
from handrail.testing import FunctionModel, Scenario, agent_worker
from handrail.testing.scripted_model import Reply, ScriptedModelServer, ToolCallReply
from handrail.tools import Compensation, Tool
from tests.review_helpers import PROFILE, WHY, answer, email, refund, wait_for_pending

DRAFT = "Refunded 10.00 and emailed you."


async def _run_store_task(
    client: Client, settings: HandrailSettings, server: ScriptedModelServer, replies: list[Reply]
) -> tuple[str, HandrailClient]:
    create_store(store_db_path(settings))
    server.brain = Scenario(replies)
    handrail = HandrailClient(client, settings)
    async with running_worker(client, settings):
        handle = await handrail.start_task({"goal": "Refund and tell them", "profile": PROFILE})
        await handrail.get_result(handle.id)
    return handle.id, handrail


async def test_a_refused_email_at_the_commit_point_fails_the_commit_and_rolls_back(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    create_store(store_db_path(settings))
    before = snapshot(store_db_path(settings))
    # The refund runs at once; both emails wait for the commit point; the first is refused
    # there (no such order), so the second must never go out.
    replies: list[Reply] = [refund(1001, "10.00"), email(9999), email(1001), answer(DRAFT)]
    model_server.brain = Scenario(replies)
    handrail = HandrailClient(client, settings)
    async with running_worker(client, settings):
        handle = await handrail.start_task({"goal": "Refund and tell them", "profile": PROFILE})
        result = await handrail.get_result(handle.id)
        trace = await handrail.get_trace(handle.id)
        attributes = (await handle.describe()).typed_search_attributes
    error = (
        "send_email (step 2) failed at the commit point: no order number 9999; never ran: "
        "send_email (step 3); the answer was not delivered; rolled back 1 earlier effect(s)"
    )
    assert result.status == "commit_failed"
    assert result.answer is None  # not delivered: it would claim what did not happen
    assert result.error == error
    # A person reading the result (`starter.py result`, the demo) is told why, not only "no answer".
    assert f"   why: {error}" in format_result(result, "ui")
    assert trace.status == "commit_failed"
    assert trace.error == error
    assert trace.answer is None
    final = trace.steps[-1]
    assert final.decision.answer == DRAFT  # the draft stays visible
    assert final.note.endswith("not delivered: send_email failed at the commit point")
    assert trace.steps[1].outcome is not None
    assert trace.steps[1].outcome.error == "no order number 9999"
    assert trace.steps[2].outcome is None
    assert trace.steps[2].note == "send_email never ran: the commit stopped at send_email (step 2)"
    assert [(c.tool, c.status) for c in trace.compensations] == [("issue_refund", "undone")]
    assert snapshot(store_db_path(settings)) == before  # no refund kept, no email sent
    assert attributes.get(sa.STATUS) == "commit_failed"

    ledger = RunLedger(settings.state_db_path)
    [record] = list(ledger.records())
    assert (record.status, record.error) == ("commit_failed", error)
    report = compute_stats(ledger)
    assert report.statuses == {"commit_failed": 1}
    assert report.commit.tasks_failed == 1
    assert report.commit.rate == 1.0
    [email_tool] = report.commit.by_tool
    assert (email_tool.tool, email_tool.ran, email_tool.failed, email_tool.never_ran) == (
        "send_email",
        1,
        1,
        1,
    )
    text = format_table(report)
    failed = "1 of 1 tasks that ran a commit point failed it (100.0%)"
    assert f"The commit point\n  {failed}" in text
    assert "send_email" in text.split("The commit point")[1]
    assert failed in format_html(report)


async def test_a_profile_may_keep_the_earlier_effects(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles)
    path = profiles / "store_actions.toml"
    path.write_text(path.read_text() + '\n[commit]\non_failure = "keep"\n')
    keeping = settings.model_copy(update={"profiles_dir": profiles})
    task_id, handrail = await _run_store_task(
        client, keeping, model_server, [refund(1001, "10.00"), email(9999), answer(DRAFT)]
    )
    async with running_worker(client, keeping):
        trace = await handrail.get_trace(task_id)
    assert trace.status == "commit_failed"
    assert trace.answer is None
    assert trace.error == (
        "send_email (step 2) failed at the commit point: no order number 9999; the answer was "
        'not delivered; kept 1 earlier effect(s) (the profile\'s [commit] on_failure = "keep")'
    )
    assert trace.compensations == []
    assert len(snapshot(store_db_path(keeping))["refunds"]) == 1  # kept, and said so


# --- a new user's own tools: a snapshot that is gone by the time the commit runs ------------


class VolumeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volume: str


class SnapshotArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshot: str


PROFILE_TOML = """
name = "ops"
model = "scripted"
system_prompt = "You tidy up storage."
tools = ["detach_volume", "delete_snapshot"]

[rules.detach_volume]
autonomy = "autonomous"

[rules.delete_snapshot]
autonomy = "supervised"
min_confidence = 0.5

[[review_tiers]]
name = "ops"
reviewers = ["olga"]
deadline = "PT1H"
"""


class Storage:
    """A toy storage service: volumes attached or not, snapshots that may vanish."""

    def __init__(self, failure: str) -> None:
        self.failure = failure
        self.detached: dict[str, str] = {}  # idempotency key -> volume
        self.deleting = asyncio.Event()

    def tools(self) -> list[Tool]:
        @tool(compensated_by="reattach_volume")
        async def detach_volume(args: VolumeArgs, ctx: ToolContext) -> dict[str, Any]:
            """Detach a volume (reattached if the task rolls back)."""
            self.detached[ctx.idempotency_key] = args.volume
            return {"detached": args.volume}

        @tool(irreversible=True)
        async def delete_snapshot(args: SnapshotArgs, ctx: ToolContext) -> dict[str, Any]:
            """Delete a snapshot for good."""
            if self.failure == "refused":
                raise ToolRefused(f"snapshot {args.snapshot} is gone")
            if self.failure == "error":
                raise ApplicationError(
                    f"storage API: 410 Gone for {args.snapshot}", non_retryable=True
                )
            self.deleting.set()
            await asyncio.sleep(1.5)  # "slow": the task is cancelled meanwhile
            return {"deleted": args.snapshot}

        return [detach_volume, delete_snapshot]

    def compensations(self) -> list[Compensation]:
        @compensation(undoes="detach_volume")
        async def reattach_volume(ctx: UndoContext) -> bool:
            return self.detached.pop(ctx.idempotency_key, None) is not None

        return [reattach_volume]


def _replies() -> Sequence[Reply]:
    return [
        ToolCallReply("detach_volume", {"volume": "vol-1", **WHY}),
        ToolCallReply("delete_snapshot", {"snapshot": "snap-7", **WHY}),
        ToolCallReply("final_answer", {"answer": "Snapshot snap-7 deleted.", **WHY}),
    ]


def _profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "ops-profiles"
    folder.mkdir()
    (folder / "ops.toml").write_text(PROFILE_TOML)
    return folder


def _ops_worker(
    client: Client, tmp_path: Path, storage: Storage
) -> AbstractAsyncContextManager[HandrailClient]:
    """A worker of the ops agent over ``storage``, its model scripted by ``_replies``."""
    return agent_worker(
        client,
        tmp_path,
        tools=storage.tools(),
        compensations=storage.compensations(),
        model=FunctionModel(Scenario(_replies())),
        profiles=[_profiles(tmp_path)],
    )


@pytest.mark.parametrize(
    ("failure", "why"),
    [
        ("refused", "snapshot snap-7 is gone"),
        ("error", "storage API: 410 Gone for snap-7"),
    ],
)
async def test_an_approved_delete_whose_snapshot_is_gone_ends_commit_failed(
    client: Client, tmp_path: Path, failure: str, why: str
) -> None:
    """A tool saying no (a failed outcome) and a tool failing for good (a non-retryable error:
    ActivityError in the workflow) end the same way."""
    storage = Storage(failure)
    async with _ops_worker(client, tmp_path, storage) as handrail:
        handle = await handrail.start_task({"goal": "Delete snap-7", "profile": "ops"})
        pending = await wait_for_pending(handrail, handle.id)
        assert pending.tool == "delete_snapshot"
        await handrail.review(
            handle.id, {"reviewer": "olga", "step": pending.step, "verdict": "approve"}
        )
        result = await handrail.get_result(handle.id)
    assert result.status == "commit_failed"
    assert result.answer is None
    assert result.error == (
        f"delete_snapshot (step 2) failed at the commit point: {why}; the answer was not "
        "delivered; rolled back 1 earlier effect(s)"
    )
    assert [(c.tool, c.status) for c in result.compensations] == [("detach_volume", "undone")]
    assert storage.detached == {}
    assert result.steps[-1].decision.answer == "Snapshot snap-7 deleted."


async def test_cancelling_during_the_commit_still_rolls_back(
    client: Client, tmp_path: Path
) -> None:
    storage = Storage("slow")
    async with _ops_worker(client, tmp_path, storage) as handrail:
        handle = await handrail.start_task({"goal": "Delete snap-7", "profile": "ops"})
        pending = await wait_for_pending(handrail, handle.id)
        await handrail.review(
            handle.id, {"reviewer": "olga", "step": pending.step, "verdict": "approve"}
        )
        await asyncio.wait_for(storage.deleting.wait(), timeout=15)  # the commit is under way
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        trace = await handrail.get_trace(handle.id)
    assert isinstance(failure.value.cause, CancelledError)
    assert trace.status == "cancelled"
    assert [(c.tool, c.status) for c in trace.compensations] == [("detach_volume", "undone")]
    assert storage.detached == {}


def test_on_failure_takes_roll_back_or_keep_and_nothing_else(tmp_path: Path) -> None:
    folder = _profiles(tmp_path)
    path = folder / "ops.toml"
    assert ProfileCatalog(folder).load("ops").commit.on_failure == "roll_back"  # the default
    path.write_text(PROFILE_TOML + '\n[commit]\non_failure = "keep"\n')
    assert ProfileCatalog(folder).load("ops").commit.on_failure == "keep"
    path.write_text(PROFILE_TOML + '\n[commit]\non_failure = "ignore"\n')
    with pytest.raises(InvalidProfileError, match=r"commit\.on_failure"):
        ProfileCatalog(folder).load("ops")
    path.write_text(PROFILE_TOML + '\n[commit]\non_fail = "keep"\n')
    with pytest.raises(InvalidProfileError, match="on_fail"):
        ProfileCatalog(folder).load("ops")
