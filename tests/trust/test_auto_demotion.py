"""Earned trust, both directions read the same evidence (issue 15):

- a denial counts against promotion as it counts as trouble for demotion, so a tool whose
  proposals the policy keeps refusing does not re-earn the level those denials took away;
- the worker demotes a tool as soon as a finished run shows the trouble ``stats`` would
  recommend demoting on (no person needed to narrow), audited as automatic, dated by the run,
  and never twice on the same evidence; ``[autonomy] auto_demote = false`` leaves it to a person;
- on a real dev server, the run that tips the test demotes the tool before the next task loads
  its profile, so that task's refund goes to review.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from examples.store.settings import PROFILES as STORE_PROFILES
from handrail.client.core import HandrailClient
from handrail.contracts import GateAction, ReviewVerdict, RunRecord
from handrail.profiles.catalog import AutonomyBar, ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.storage.autonomy_levels import AutonomyLevels
from handrail.storage.autonomy_log import AutonomyLog
from handrail.storage.ledger import RunLedger
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from handrail.trust.auto_demotion import AUTOMATIC, AutoDemotion
from handrail.trust.autonomy import assess, assess_profile, read_log
from handrail.trust.evidence import Agreement
from tests.ledger_factory import T0, refund_args, reviewed_refunds, run, tool_step
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending

BAR = AutonomyBar()


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    directory = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, directory, ignore=shutil.ignore_patterns("*.py"))
    return directory


def _refunds(
    prefix: str, gates: list[GateAction], *, minutes: int = 0, verdict: ReviewVerdict = "approve"
) -> list[RunRecord]:
    """One task per gate verdict, each proposing one small refund, a minute apart."""
    records = []
    for number, gate in enumerate(gates):
        at = T0 + timedelta(minutes=minutes + number)
        step = tool_step(
            0,
            "issue_refund",
            refund_args("900.00" if gate == "deny" else "10.00"),
            gate=gate,
            verdict=verdict if gate == "review" else None,
            ok=None if gate == "deny" else True,
            at=at,
        )
        records.append(run(f"{prefix}-{number}", [step], finished_at=at + timedelta(seconds=30)))
    return records


def _level(log: AutonomyLog, tool: str = "issue_refund") -> str | None:
    found = AutonomyLevels(log.database).current(PROFILE).get(tool)
    return found.autonomy if found else None


def test_denials_count_against_promotion() -> None:
    clean = Agreement(approved=20)
    assert assess("p", "t", "suggest", clean, BAR).advice == "promote"
    # 20 of 20 reviews approved, but 5 more proposals were denied before any review.
    refused = Agreement(approved=20, denied=5)
    held = assess("p", "t", "suggest", refused, BAR)
    assert (held.advice, refused.agreement) == ("hold", 0.8)
    assert "20 of 20 approved unchanged, 5 more denied by the policy (80%)" in held.reason
    # Still needs the reviews: denials alone never promote or satisfy min_reviews.
    assert assess("p", "t", "suggest", Agreement(denied=30), BAR).advice == "insufficient"


def test_the_ledger_gives_promotion_the_denials_since_the_last_change(
    tmp_path: Path, profiles: Path
) -> None:
    ledger = RunLedger(tmp_path / "state.db")
    log = AutonomyLog(ledger.database)
    file = ProfileCatalog(profiles).load(PROFILE)
    ledger.write_many(reviewed_refunds(["approve"] * 20))  # supervised → autonomous, if clean
    [refunds] = assess_profile(ledger, file, log, only=["issue_refund"])
    assert refunds.advice == "promote"
    ledger.write_many(_refunds("refused", ["deny", "auto", "deny"], minutes=60))
    [refunds] = assess_profile(ledger, file, log, only=["issue_refund"])
    assert (refunds.evidence.denied, refunds.advice) == (2, "hold")  # 20 of 22


def test_the_worker_demotes_once_on_the_run_that_shows_trouble(
    tmp_path: Path, profiles: Path
) -> None:
    ledger = RunLedger(tmp_path / "state.db")
    log = AutonomyLog(ledger.database)
    demotion = AutoDemotion(ProfileCatalog(profiles), ledger)
    calm = _refunds("calm", ["auto"] * 10)
    ledger.write_many(calm)
    assert demotion.check(calm[-1]) == []  # healthy: nothing happens
    assert _level(log) is None  # the file's level (supervised) stays in force

    # Two denials among the next four actions: 2 troubles in the newest 14 are not yet
    # evidence (P = 0.15 if the tool erred 5%), a third one is (3 of 15, P = 0.036).
    first = _refunds("drift", ["deny", "auto", "auto", "deny"], minutes=20)
    ledger.write_many(first)
    assert demotion.check(first[-1]) == []
    tipping = _refunds("tip", ["deny"], minutes=30)
    ledger.write_many(tipping)
    [change] = demotion.check(tipping[-1])
    assert (change.who, change.from_level, change.to_level) == (AUTOMATIC, "supervised", "suggest")
    assert change.at == tipping[-1].finished_at  # the ledger's clock, not the wall's
    assert change.why.startswith(f"automatic, after task {tipping[-1].task_id}: newest 15")
    assert change.evidence is not None
    assert change.evidence.denied == 3
    assert _level(log) == "suggest"
    [entry] = read_log(log, profile=PROFILE)
    assert entry.recommended is True
    # The same run told again (a retried observer) finds no evidence since the change.
    assert demotion.check(tipping[-1]) == []
    assert len(read_log(log, profile=PROFILE)) == 1


def test_a_profile_can_leave_demotion_to_a_person(tmp_path: Path, profiles: Path) -> None:
    path = profiles / f"{PROFILE}.toml"
    path.write_text(path.read_text() + "\n[autonomy]\nauto_demote = false\n")
    assert ProfileCatalog(profiles).load(PROFILE).autonomy.auto_demote is False
    ledger = RunLedger(tmp_path / "state.db")
    records = _refunds("drift", ["deny", "deny", "deny", "auto", "auto"])
    ledger.write_many(records)
    assert AutoDemotion(ProfileCatalog(profiles), ledger).check(records[-1]) == []
    file = ProfileCatalog(profiles).load(PROFILE)
    [refunds] = assess_profile(ledger, file, AutonomyLog(ledger.database), only=["issue_refund"])
    assert refunds.advice == "demote"  # still recommended, for a person to apply


@pytest.mark.usefixtures("worker")
async def test_the_next_task_is_gated_at_the_level_the_last_run_earned(
    handrail: HandrailClient, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    log = AutonomyLog(settings.state_database_url)
    # Five refund proposals, two of them past the profile's deny_above: demoted when the run
    # is recorded, before the task's result is returned.
    model_server.brain = Scenario(
        [
            refund(1001, "10.00"),
            refund(1001, "900.00"),
            refund(1002, "10.00"),
            refund(1002, "900.00"),
            refund(1003, "10.00"),
            answer(),
        ]
    )
    first = await handrail.get_result(
        (await handrail.start_task({"goal": "g", "profile": PROFILE})).id
    )
    trace = await handrail.get_trace(first.task_id)
    gates = [s.gate.action for s in trace.steps if s.gate and s.decision.tool == "issue_refund"]
    assert gates == ["auto", "deny", "auto", "deny", "auto"]
    assert _level(log) == "suggest"
    [change] = read_log(log, profile=PROFILE)
    assert (change.who, change.tool, change.to_level) == (AUTOMATIC, "issue_refund", "suggest")

    model_server.brain = Scenario([refund(1001, "10.00"), answer()])
    second = await handrail.start_task({"goal": "g", "profile": PROFILE})
    pending = await wait_for_pending(handrail, second.id)
    assert pending.tool == "issue_refund"
    assert "suggest" in pending.reason
