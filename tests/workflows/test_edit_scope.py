"""A reviewer's edit is held to the task's scope and to the limit across tasks, as the model's
own proposal is: refused at once by the ``review`` update, recorded as ignored by the
``submit_review`` signal. A profile rule (``edits_outside_scope = "allow"``) lets a person send
an action elsewhere on purpose. Real dev server, real worker, real store."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import Trace
from handrail.errors import ErrorType, InvalidProfileError, ReviewRefusedError
from handrail.profiles.catalog import ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.profile_copies import REFUND_SHARED_LIMIT, store_profiles
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending

SCOPED = {"order_id": 1003}  # the caller's ticket is about order 1003, and nothing else
ELSEWHERE = {"order_id": 1001, "amount": "80.00", "reason": "damaged"}
OUTSIDE = "edited arguments refused by policy: order_id 1001 is outside the task's scope"
REFUND_RULE = "[rules.issue_refund]\n"


def _profiles(tmp_path: Path, extra_rule_lines: str) -> Path:
    """The packaged profiles, with lines added to ``store_actions``' refund rule (a shared
    limit among them replaces the bundled one)."""
    replacements = [(REFUND_RULE, REFUND_RULE + extra_rule_lines)]
    if "shared_limit" in extra_rule_lines:
        replacements.append((REFUND_SHARED_LIMIT, ""))
    return store_profiles(tmp_path, *replacements)


def _refunds(settings: HandrailSettings) -> list[tuple[int, int]]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return db.execute("SELECT order_id, amount_cents FROM refunds ORDER BY id").fetchall()


async def _paused(
    handrail: HandrailClient, server: ScriptedModelServer, context: dict[str, Any]
) -> str:
    """A task whose model proposes a refund of 80.00 on order 1003 (above review_above: a
    reviewer decides), paused at that review."""
    server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    task = {"goal": "Resolve the ticket", "profile": PROFILE, "context": context}
    handle = await handrail.start_task(task)
    await wait_for_pending(handrail, handle.id)
    return handle.id


async def _ignored(handrail: HandrailClient, task_id: str, count: int) -> Trace:
    trace = await handrail.get_trace(task_id)
    for _ in range(200):
        if len(trace.ignored_reviews) >= count:
            break
        await asyncio.sleep(0.05)
        trace = await handrail.get_trace(task_id)
    return trace


async def _reject(handrail: HandrailClient, task_id: str) -> None:
    await handrail.review(task_id, {"reviewer": "bob", "step": 1, "verdict": "reject"})
    assert (await handrail.get_result(task_id)).status == "rejected"


@pytest.mark.usefixtures("worker")
async def test_an_edit_outside_the_tasks_scope_is_refused_by_update_and_signal(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    task_id = await _paused(handrail, model_server, SCOPED)
    edit = {"reviewer": "alice", "step": 1, "verdict": "edit", "arguments": ELSEWHERE}
    with pytest.raises(ReviewRefusedError) as refused:
        await handrail.review(task_id, edit)
    assert refused.value.error_type == ErrorType.REVIEW_POLICY_DENIED
    assert str(refused.value).endswith(f"refused: {OUTSIDE} (order_id 1003)")

    await handrail.signal_review(task_id, edit)
    trace = await _ignored(handrail, task_id, 1)
    [ignored] = trace.ignored_reviews
    assert ignored.reason == f"{OUTSIDE} (order_id 1003)"
    assert trace.pending_review is not None  # still waiting for a decision that can count
    await _reject(handrail, task_id)
    assert _refunds(settings) == []  # nothing went to order 1001


@pytest.mark.usefixtures("worker")
async def test_an_edit_within_the_scope_still_runs(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    # "80" compares to nothing here, but the order must: written as text, as the number 1003.
    task_id = await _paused(handrail, model_server, {"order_id": "1003"})
    arguments = {"order_id": 1003, "amount": "30.00", "reason": "partial"}
    await handrail.review(
        task_id, {"reviewer": "alice", "step": 1, "verdict": "edit", "arguments": arguments}
    )
    assert (await handrail.get_result(task_id)).status == "answered"
    assert _refunds(settings) == [(1003, 3000)]


async def test_a_rule_may_let_reviewers_edit_outside_the_scope(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    allowing = settings.model_copy(
        update={"profiles_dir": _profiles(tmp_path, 'edits_outside_scope = "allow"\n')}
    )
    create_store(store_db_path(allowing))
    handrail = HandrailClient(client, allowing)
    async with running_worker(client, allowing):
        task_id = await _paused(handrail, model_server, SCOPED)
        edit = {"reviewer": "alice", "step": 1, "verdict": "edit", "arguments": ELSEWHERE}
        await handrail.review(task_id, edit)
        result = await handrail.get_result(task_id)
    assert result.status == "answered"
    assert _refunds(allowing) == [(1001, 8000)]  # a person sent it elsewhere, by the rule


SHARED = 'shared_limit = 100\nshared_limit_per = "order_id"\nshared_limit_window = "P1D"\n'


async def test_an_edit_above_the_whole_shared_limit_is_refused_at_once(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    limited = settings.model_copy(update={"profiles_dir": _profiles(tmp_path, SHARED)})
    create_store(store_db_path(limited))
    handrail = HandrailClient(client, limited)
    # 150.00: within deny_above (500) and the task's limit (200), above the shared 100.
    over = {"order_id": 1003, "amount": "150.00", "reason": "all of it"}
    edit = {"reviewer": "alice", "step": 1, "verdict": "edit", "arguments": over}
    async with running_worker(client, limited):
        task_id = await _paused(handrail, model_server, SCOPED)
        with pytest.raises(ReviewRefusedError) as refused:
            await handrail.review(task_id, edit)
        await handrail.signal_review(task_id, edit)
        trace = await _ignored(handrail, task_id, 1)
        await _reject(handrail, task_id)
    reason = (
        "edited arguments refused by policy: issue_refund of 150.00 is above its shared limit "
        "of 100 (all tasks together per order_id): no reservation could ever grant it"
    )
    assert refused.value.error_type == ErrorType.REVIEW_POLICY_DENIED
    assert str(refused.value).endswith(f"refused: {reason}")
    assert [ignored.reason for ignored in trace.ignored_reviews] == [reason]
    assert _refunds(limited) == []


async def test_an_edit_past_what_the_shared_limit_has_left_is_refused_when_it_runs(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    """What is left of a limit across tasks is known only where the reservation is taken: the
    edit is held exactly as the model's own proposal of the same amount is (refused when the
    action runs, the reason in its outcome, nothing committed past the limit)."""
    limited = settings.model_copy(update={"profiles_dir": _profiles(tmp_path, SHARED)})
    create_store(store_db_path(limited))
    handrail = HandrailClient(client, limited)
    async with running_worker(client, limited):
        model_server.brain = Scenario([refund(1003, "45.00"), answer("Refunded")])
        first = await handrail.start_task({"goal": "First", "profile": PROFILE, "context": SCOPED})
        assert (await handrail.get_result(first.id)).status == "answered"
        task_id = await _paused(handrail, model_server, SCOPED)
        past = {"order_id": 1003, "amount": "60.00", "reason": "most of it"}
        receipt = await handrail.review(
            task_id, {"reviewer": "alice", "step": 1, "verdict": "edit", "arguments": past}
        )
        assert receipt.verdict == "edit"
        await handrail.get_result(task_id)
        trace = await handrail.get_trace(task_id)
    outcome = trace.steps[0].outcome
    assert outcome is not None
    assert not outcome.ok
    assert outcome.error == (
        "issue_refund: 60.00 would bring order 1003's refunds in the last 1 day to 105.00, "
        "above the shared limit of 100"
    )
    assert _refunds(limited) == [(1003, 4500)]  # only the first task's refund


def test_edits_outside_scope_is_refuse_or_allow(tmp_path: Path) -> None:
    catalog = ProfileCatalog(_profiles(tmp_path, ""))
    assert catalog.load(PROFILE).rules["issue_refund"].edits_outside_scope == "refuse"
    wrong = ProfileCatalog(_profiles(tmp_path / "wrong", 'edits_outside_scope = "yes"\n'))
    with pytest.raises(InvalidProfileError, match="edits_outside_scope"):
        wrong.load(PROFILE)
