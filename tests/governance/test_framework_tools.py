"""A tool the host's framework defines and runs itself, governed by the profile's
``framework_tools`` and its rule: a compensated one is undone on rollback, its compensation
handed the arguments it ran with (it never saw the idempotency key); an irreversible one (no
``effect``) is held to the commit point and run there through the host's own runner."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from examples.store.database import StoreDatabase, create_store
from examples.store.settings import StoreSettings, store_db_path
from examples.store.tools import store_compensations, store_tools
from handrail import HandrailPlugin, HandrailSettings
from handrail.client.core import HandrailClient
from handrail.contracts import TaskResult
from handrail.testing import FunctionModel
from handrail.testing.scripted_model import TextReply
from handrail.tools import UndoContext, compensation
from tests.governance.scripted_host import (
    HOST_WORKFLOW,
    ProposedCall,
    ScriptedGovernedAgent,
    scripted_task,
)
from tests.review_helpers import wait_for_pending

PROFILE = "framework_host"
PROFILE_FILE = """
name = "framework_host"
model = ""
system_prompt = "scripted"
tools = ["lookup_price", "issue_refund"]
framework_tools = ["leave_note", "post_note"]

[rules.issue_refund]
review_above = 50

[rules.leave_note]
effect = "compensated"
compensation = "drop_note"
autonomy = "autonomous"

[rules.post_note]  # no effect named: irreversible, held to the commit point
autonomy = "autonomous"

[[review_tiers]]
name = "support"
reviewers = ["alice"]
deadline = "PT1H"
"""
SURE = 0.95
NOTE = ProposedCall(tool="leave_note", arguments={"text": "sorry"}, confidence=SURE, framework=True)
POST = ProposedCall(tool="post_note", arguments={"text": "posted"}, confidence=SURE, framework=True)
BIG_REFUND = ProposedCall(
    tool="issue_refund",
    arguments={"order_id": 1001, "amount": "80.00", "reason": "damaged"},
    confidence=SURE,
)


class TextReplies:
    """A model brain for the worker's ``decide``, which this host never calls."""

    def __call__(self, request: dict[str, Any]) -> TextReply:
        return TextReply("unused")


class Notes:
    """The host's own effect: notes in a table of their own, written by ``leave_note`` and
    removed by ``drop_note``, which finds a note by the arguments it was left with."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.undo_arguments: list[dict[str, Any]] = []
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS notes (text TEXT)")

    def texts(self) -> list[str]:
        with sqlite3.connect(self.path) as db:
            return [row[0] for row in db.execute("SELECT text FROM notes")]

    @activity.defn(name="leave_note")
    async def leave_note(self, arguments: dict[str, Any]) -> str:
        with sqlite3.connect(self.path) as db:
            db.execute("INSERT INTO notes VALUES (?)", (arguments["text"],))
        return f"note left: {arguments['text']}"

    async def drop_note(self, undo: UndoContext) -> bool:
        self.undo_arguments.append(dict(undo.arguments))
        with sqlite3.connect(self.path) as db:
            return (
                db.execute("DELETE FROM notes WHERE text = ?", (undo.arguments["text"],)).rowcount
                > 0
            )


@pytest.fixture
async def host(client: Client, settings: HandrailSettings, tmp_path: Path) -> AsyncIterator[Notes]:
    create_store(store_db_path(settings))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / f"{PROFILE}.toml").write_text(PROFILE_FILE)
    notes = Notes(tmp_path / "notes.db")
    database = StoreDatabase(StoreSettings().target(settings))
    plugin = HandrailPlugin(
        settings,
        tools=store_tools(database),
        compensations=[
            *store_compensations(database),
            compensation(undoes="leave_note", name="drop_note")(notes.drop_note),
        ],
        model=FunctionModel(TextReplies()),  # never asked: the host decides alone
        profiles=[profiles],
        on_worker_stop=[database.aclose],
    )
    async with Worker(
        client,
        task_queue=settings.task_queue,
        plugins=[plugin],
        workflows=[ScriptedGovernedAgent],
        activities=[notes.leave_note],
    ):
        yield notes


def _client(client: Client, settings: HandrailSettings, tmp_path: Path) -> HandrailClient:
    settings = settings.model_copy(
        update={"workflow": HOST_WORKFLOW, "profiles_dirs": [tmp_path / "profiles"]}
    )
    return HandrailClient(client, settings)


def _decision(step: int, verdict: str) -> dict[str, Any]:
    return {"reviewer": "alice", "step": step, "verdict": verdict}


async def test_a_rejection_undoes_the_hosts_own_tool_by_its_arguments(
    client: Client, settings: HandrailSettings, host: Notes, tmp_path: Path
) -> None:
    handrail = _client(client, settings, tmp_path)
    handle = await handrail.start_task(scripted_task([NOTE, BIG_REFUND], PROFILE))
    pending = await wait_for_pending(handrail, handle.id)
    assert host.texts() == ["sorry"]  # it ran before the refund was proposed
    await handrail.review(handle.id, _decision(pending.step, "reject"))
    result = await client.get_workflow_handle(handle.id, result_type=TaskResult).result()
    assert result.status == "rejected", result
    assert [(c.tool, c.compensation, c.status) for c in result.compensations] == [
        ("leave_note", "drop_note", "undone")
    ]
    assert host.undo_arguments == [{"text": "sorry"}]
    assert host.texts() == []
    assert result.steps[0].note == "ran leave_note"


async def test_an_irreversible_own_tool_runs_only_at_the_commit_point(
    client: Client, settings: HandrailSettings, host: Notes, tmp_path: Path
) -> None:
    handrail = _client(client, settings, tmp_path)
    handle = await handrail.start_task(scripted_task([POST, BIG_REFUND], PROFILE))
    pending = await wait_for_pending(handrail, handle.id)
    assert host.texts() == []  # held back: the agent was told it is scheduled
    trace = await handrail.get_trace(handle.id)
    assert trace.steps[0].deferred
    await handrail.review(handle.id, _decision(pending.step, "approve"))
    # The answer, plain text after an action that changed the world, goes to a person too;
    # the held note has still not run.
    answer = await wait_for_pending(handrail, handle.id, step=pending.step + 1)
    assert answer.tool == "final_answer"
    assert host.texts() == []
    await handrail.review(handle.id, _decision(answer.step, "approve"))
    result = await client.get_workflow_handle(handle.id, result_type=TaskResult).result()
    assert result.status == "answered", result
    assert host.texts() == ["posted"]
    assert result.steps[0].outcome is not None
    assert result.steps[0].outcome.ok
