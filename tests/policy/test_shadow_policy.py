"""Shadow rules end to end: a profile whose refund rule has a shadow (the promotion to
autonomous) and whose discount rule has a stricter one. Real runs on the dev server record both
verdicts on each step, the shadow changes nothing the task does, and ``stats`` reports what the
shadow would have let through or stopped and which of those reviewers rejected."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from examples.store.database import create_store
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import TaskResult
from handrail.errors import InvalidProfileError
from handrail.profiles.catalog import ProfileCatalog
from handrail.reports.render_html import format_html
from handrail.reports.render_text import format_table
from handrail.reports.stats import compute_stats
from handrail.settings import HandrailSettings
from handrail.storage.ledger import RunLedger, ledger_url
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from handrail.workflows.agent import AgentWorkflow
from tests.review_helpers import PROFILE, answer, discount, refund, wait_for_pending

SHADOWS = """
[rules.issue_refund.shadow]
autonomy = "autonomous"        # what promoting refunds would do

[rules.apply_discount.shadow]
review_above = 5               # a stricter threshold than the enforced 20
"""


def _profiles(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, folder)
    path = folder / f"{PROFILE}.toml"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return folder


async def _reviewed_refund(handrail: HandrailClient, verdict: str) -> TaskResult:
    handle = await handrail.start_task({"goal": "Refund order 1003", "profile": PROFILE})
    pending = await wait_for_pending(handrail, handle.id)
    await handrail.review(
        handle.id, {"reviewer": "alice", "step": pending.step, "verdict": verdict}
    )
    return await handrail.get_result(handle.id)


async def test_both_verdicts_recorded_and_reported(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"profiles_dir": _profiles(tmp_path, SHADOWS)})
    create_store(store_db_path(local))
    handrail = HandrailClient(client, local)
    async with running_worker(client, local):
        # Above review_above (50): the enforced rule asks a person, the shadow would not.
        model_server.brain = Scenario([refund(1003, "80.00"), answer()])
        rejected = await _reviewed_refund(handrail, "reject")
        model_server.brain = Scenario([refund(1003, "80.00"), answer()])
        approved = await _reviewed_refund(handrail, "approve")
        # Within both rules: the same verdict twice.
        model_server.brain = Scenario([refund(1003, "10.00"), answer()])
        small = await handrail.get_result(
            (await handrail.start_task({"goal": "g", "profile": PROFILE})).id
        )
        # 10 is under the enforced 20 but above the shadow's 5: run, and "stopped" by the shadow.
        model_server.brain = Scenario([discount(1003, "10.00"), answer()])
        discounted = await handrail.get_result(
            (await handrail.start_task({"goal": "g", "profile": PROFILE})).id
        )
        trace = await handrail.get_trace(discounted.task_id)

    assert rejected.status == "rejected"
    step = rejected.steps[0]
    assert step.gate is not None
    assert step.shadow_gate is not None
    assert (step.gate.action, step.shadow_gate.action) == ("review", "auto")
    assert step.shadow_gate.reason == "issue_refund is autonomous"
    assert approved.status == "answered"
    assert small.status == "answered"
    assert small.steps[0].gate is not None
    assert small.steps[0].shadow_gate is not None
    assert small.steps[0].gate.action == small.steps[0].shadow_gate.action == "auto"
    # The shadow changed nothing: the discount ran on its own, and its step says what the
    # shadow would have done (also in the trace query).
    assert discounted.status == "answered"
    discount_step = discounted.steps[0]
    assert discount_step.gate is not None
    assert discount_step.gate.action == "auto"
    assert discount_step.review is None
    assert discount_step.outcome is not None
    assert discount_step.outcome.ok
    assert trace.steps[0].shadow_gate is not None
    assert trace.steps[0].shadow_gate.reason == "apply_discount of 10.00 is above 5"
    # Final answers and tools without a shadow get no second verdict.
    assert all(s.shadow_gate is None for r in (approved, small) for s in r.steps[1:])
    # The second verdict schedules nothing: the runs replay against the workflow as it is.
    replayer = Replayer(workflows=[AgentWorkflow], data_converter=pydantic_data_converter)
    for result in (rejected, discounted):
        history = await client.get_workflow_handle(result.task_id).fetch_history()
        await replayer.replay_workflow(history)

    ledger = RunLedger(ledger_url(local))
    for _ in range(100):  # recorded before each result returns; allow a moment regardless
        if ledger.count() == 4:
            break
        await asyncio.sleep(0.05)
    profile = ProfileCatalog(local.profile_folders).load(PROFILE)
    report = compute_stats(ledger, profile=profile)
    rows = {row.tool: row for row in report.shadow}
    assert set(rows) == {"issue_refund", "apply_discount"}
    refunds = rows["issue_refund"]
    assert (refunds.gated, refunds.same) == (3, 1)
    assert (refunds.let_through, refunds.let_through_reviewed, refunds.let_through_bad) == (2, 2, 1)
    assert refunds.bad_examples == [f"{rejected.task_id} step 1 (reject)"]
    assert refunds.bad_rate_upper is not None
    assert refunds.bad_rate_upper > 0.5  # one bad of two reviewed: a bound near 97%
    assert (refunds.enforced_reviews, refunds.shadow_reviews, refunds.stopped) == (2, 0, 0)
    discounts = rows["apply_discount"]
    assert (discounts.gated, discounts.stopped, discounts.stopped_failed) == (1, 1, 0)
    assert (discounts.enforced_reviews, discounts.shadow_reviews) == (0, 1)

    text = format_table(report)
    assert "Shadow rules" in text
    assert f"issue_refund: bad let through: {rejected.task_id} step 1 (reject)" in text
    assert "2 → 0" in text
    assert "Shadow rules" in format_html(report)


def test_a_ledger_without_shadows_reports_none(tmp_path: Path) -> None:
    report = compute_stats(RunLedger(tmp_path / "handrail.db"))
    assert report.shadow == []
    assert "Shadow rules" not in format_table(report)


@pytest.mark.parametrize(
    ("shadow", "message"),
    [
        ('autonomy = "bold"', "rules.issue_refund.shadow.autonomy: Input should be"),
        ("autonmy = 'autonomous'", "rules.issue_refund.shadow.autonmy: Extra inputs"),
        ("review_above = -1", "rules.issue_refund.shadow.review_above: Input should be greater"),
        ("min_confidence = 1.5", "rules.issue_refund.shadow.min_confidence"),
        ("", "rules.issue_refund.shadow: Value error, a shadow rule sets nothing"),
        ("shared_limit = 10", "rules.issue_refund.shadow.shared_limit: Extra inputs"),
    ],
)
def test_a_bad_shadow_is_refused_naming_file_rule_and_field(
    tmp_path: Path, shadow: str, message: str
) -> None:
    folder = _profiles(tmp_path, f"\n[rules.issue_refund.shadow]\n{shadow}\n")
    with pytest.raises(InvalidProfileError) as caught:
        ProfileCatalog(folder).load(PROFILE)
    assert message in str(caught.value)
    assert str(caught.value).endswith(f"(in {PROFILE}.toml)")


def test_a_shadow_outside_scope_needs_a_scope(tmp_path: Path) -> None:
    extra = '\n[rules.get_order.shadow]\noutside_scope = "review"\n'
    with pytest.raises(InvalidProfileError, match=r"rules\.get_order\.shadow: outside_scope set"):
        ProfileCatalog(_profiles(tmp_path, extra)).load(PROFILE)
