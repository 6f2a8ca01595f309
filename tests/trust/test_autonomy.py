"""Earned autonomy: recommendations from reviewer agreement, and promotions and demotions that
set the level in the state database (and, asked to, in the profile file, comments kept), are
audited, and change what the policy does next."""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.tools import STORE_TOOL_SPECS as STORE_TOOLS
from handrail.activities.profiles import ProfileActivities
from handrail.cli.stats import audit_log, register
from handrail.contracts import LoadProfileRequest, Profile, ReviewVerdict
from handrail.errors import InvalidProfileError, UserError
from handrail.policy.gate import gate
from handrail.profiles.catalog import AutonomyBar, ProfileCatalog
from handrail.reports.stats import compute_stats
from handrail.settings import HandrailSettings
from handrail.storage.autonomy_levels import AutonomyLevels
from handrail.storage.autonomy_log import AutonomyLog
from handrail.storage.ledger import RunLedger, ledger_url
from handrail.tools import ToolRegistry
from handrail.trust.autonomy import AutonomyLimitError, assess, assess_profile, read_log
from handrail.trust.evidence import Agreement, Trouble, binomial_tail, trouble_demotes
from handrail.trust.promotion import apply_change
from handrail.trust.tool_facts import ToolFacts
from tests.ledger_factory import (
    T0,
    escalate_step,
    refund_args,
    reviewed_refunds,
    run,
    tool_step,
    undone,
)

BAR = AutonomyBar()  # 20 reviews, promote at 0.95, demote below 0.80


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """A writable copy of the packaged profiles."""
    directory = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, directory, ignore=shutil.ignore_patterns("*.py"))
    return directory


@pytest.fixture
def log(tmp_path: Path) -> AutonomyLog:
    """The audit log, in the state database the tests' ledgers use."""
    return AutonomyLog(tmp_path / "ledger.db")


def _verdicts(approve: int, edit: int = 0, reject: int = 0) -> list[ReviewVerdict]:
    verdicts: list[ReviewVerdict] = ["approve"] * approve
    return verdicts + ["edit"] * edit + ["reject"] * reject


def _assess(level: str, approve: int, edit: int = 0, reject: int = 0) -> tuple[str, str | None]:
    evidence = Agreement.of(_verdicts(approve, edit, reject))
    found = assess("p", "issue_refund", level, evidence, BAR)  # type: ignore[arg-type]
    return found.advice, found.to


def test_agreement_counts_approved_unchanged_over_decided_reviews() -> None:
    evidence = Agreement.of(["approve", "approve", "edit", "reject", "answer", "approve"])
    assert (evidence.approved, evidence.edited, evidence.rejected, evidence.answered) == (
        3,
        1,
        1,
        1,
    )
    assert (evidence.reviews, evidence.agreement) == (6, 0.5)
    assert Agreement().agreement is None


@pytest.mark.parametrize(
    ("level", "approve", "edit", "reject", "advice", "to"),
    [
        ("supervised", 19, 0, 0, "insufficient", None),  # not enough reviews: nothing
        ("supervised", 19, 1, 0, "promote", "autonomous"),  # 19/20 = 0.95: promote
        ("suggest", 40, 1, 0, "promote", "supervised"),
        ("supervised", 18, 1, 1, "hold", None),  # 0.90: between the bars
        ("supervised", 15, 3, 2, "demote", "suggest"),  # 0.75 < 0.80
        ("autonomous", 12, 4, 4, "demote", "supervised"),
        ("autonomous", 20, 0, 0, "hold", None),  # already at the top
        ("suggest", 1, 10, 10, "hold", None),  # already at the bottom
    ],
)
def test_recommendations_follow_the_bars(
    level: str, approve: int, edit: int, reject: int, advice: str, to: str | None
) -> None:
    assert _assess(level, approve, edit, reject) == (advice, to)


def test_the_bars_come_from_the_profile_file(profiles: Path) -> None:
    path = profiles / "store_actions.toml"
    assert ProfileCatalog(profiles).load("store_actions").autonomy == AutonomyBar()
    path.write_text(
        path.read_text() + "\n[autonomy]\nmin_reviews = 5\npromote_at = 0.9\ndemote_below = 0.5\n"
    )
    bar = ProfileCatalog(profiles).load("store_actions").autonomy
    assert (bar.min_reviews, bar.promote_at, bar.demote_below) == (5, 0.9, 0.5)
    path.write_text(path.read_text().replace("demote_below = 0.5", "demote_below = 0.99"))
    with pytest.raises(InvalidProfileError, match=r"autonomy: .*demote_below \(0.99\) is above"):
        ProfileCatalog(profiles).load("store_actions")
    path.write_text(path.read_text().replace("demote_below = 0.99", "promote_over = 0.9"))
    with pytest.raises(InvalidProfileError, match=r"autonomy.promote_over: Extra inputs"):
        ProfileCatalog(profiles).load("store_actions")


def test_stats_recommend_from_the_ledger(tmp_path: Path, profiles: Path, log: AutonomyLog) -> None:
    ledger = RunLedger(tmp_path / "ledger.db")
    file = ProfileCatalog(profiles).load("store_actions")

    ledger.write_many(reviewed_refunds(_verdicts(19)))
    report = compute_stats(ledger, profile=file, log=log)
    assert report.recommendations == []  # 19 reviews: not enough yet
    refunds = next(a for a in report.autonomy if a.tool == "issue_refund")
    assert (refunds.advice, refunds.reason) == ("insufficient", "19 of the 20 reviews needed")

    ledger.write_many(reviewed_refunds(["approve"], prefix="more", start=T0 + timedelta(hours=1)))
    [promote] = compute_stats(ledger, profile=file, log=log).recommendations
    assert (promote.tool, promote.advice, promote.level, promote.to) == (
        "issue_refund",
        "promote",
        "supervised",
        "autonomous",
    )
    assert promote.evidence.reviews == 20
    # Another profile's reviews of the same tool do not count for this one.
    other = ProfileCatalog(profiles).load("store_support")
    assert compute_stats(ledger, profile=other, log=log).recommendations == []


def test_a_recent_drop_recommends_demotion(
    tmp_path: Path, profiles: Path, log: AutonomyLog
) -> None:
    ledger = RunLedger(tmp_path / "ledger.db")
    file = ProfileCatalog(profiles).load("store_actions")
    ledger.write_many(reviewed_refunds(_verdicts(200)))  # a long good record...
    later = T0 + timedelta(days=1)  # ...then the newest 100 reviews: 70 approved
    ledger.write_many(reviewed_refunds(_verdicts(70, 20, 10), prefix="late", start=later))
    refunds = next(a for a in assess_profile(ledger, file, log) if a.tool == "issue_refund")
    assert (refunds.advice, refunds.to, refunds.evidence.reviews) == ("demote", "suggest", 100)


def _level(log: AutonomyLog, profile: str, tool: str) -> str | None:
    """The level in force in the state database (None: the profile file's)."""
    found = AutonomyLevels(log.database).current(profile).get(tool)
    return found.autonomy if found else None


def test_promote_sets_the_state_and_leaves_the_file(profiles: Path, log: AutonomyLog) -> None:
    path = profiles / "store_actions.toml"
    before = path.read_text()
    change = apply_change(
        profiles, "store_actions", "issue_refund", "promote", "carol", "20 of 20", log=log
    )
    assert path.read_text() == before  # the file is the starting point only
    assert change.file is None
    [level] = AutonomyLevels(log.database).current("store_actions").values()
    assert (level.tool, level.autonomy, level.version) == ("issue_refund", "autonomous", 1)
    [entry] = log.entries()
    assert level.change_id == entry.id  # the level names the audit entry that set it


def test_promote_can_also_edit_the_profile_keeping_comments_and_audits_it(
    tmp_path: Path, profiles: Path, log: AutonomyLog
) -> None:
    path = profiles / "store_actions.toml"
    before = path.read_text()
    evidence = Agreement.of(_verdicts(20))
    change = apply_change(
        profiles,
        "store_actions",
        "issue_refund",
        "promote",
        "carol",
        "20 of 20 refunds approved unchanged",
        log=log,
        evidence=evidence,
        recommended=True,
        write_file=True,
    )
    after = path.read_text()
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ['-autonomy = "supervised"', '+autonomy = "autonomous"']
    assert "# Emails cannot be unsent" in after  # comments survive
    assert ProfileCatalog(profiles).load("store_actions").rules["issue_refund"].autonomy == (
        "autonomous"
    )
    assert (change.from_level, change.to_level) == ("supervised", "autonomous")
    assert _level(log, "store_actions", "issue_refund") == "autonomous"
    assert change.file == str(path)

    [entry] = [stored.data() for stored in log.entries()]
    assert entry["who"] == "carol"
    assert entry["why"] == "20 of 20 refunds approved unchanged"
    assert (entry["from"], entry["to"], entry["direction"]) == (
        "supervised",
        "autonomous",
        "promote",
    )
    assert entry["evidence"]["agreement"] == 1.0
    assert entry["evidence"]["reviews"] == 20
    assert entry["recommended"] is True
    assert entry["at"]
    assert read_log(log) == [change]


def test_a_change_restarts_the_count(tmp_path: Path, profiles: Path, log: AutonomyLog) -> None:
    """Reviews gathered at the old level do not vouch for the new one."""
    ledger = RunLedger(tmp_path / "ledger.db")
    ledger.write_many(reviewed_refunds(_verdicts(30)))
    apply_change(profiles, "store_actions", "issue_refund", "demote", "carol", "audit", log=log)
    file = ProfileCatalog(profiles).load("store_actions")
    refunds = next(a for a in assess_profile(ledger, file, log) if a.tool == "issue_refund")
    assert (refunds.level, refunds.advice, refunds.evidence.reviews) == (
        "suggest",
        "insufficient",
        0,
    )


def test_demoting_past_suggest_is_refused(profiles: Path, log: AutonomyLog) -> None:
    path = profiles / "store_actions.toml"
    before = path.read_text()
    apply_change(profiles, "store_actions", "issue_refund", "demote", "carol", "x", log=log)
    assert _level(log, "store_actions", "issue_refund") == "suggest"
    with pytest.raises(AutonomyLimitError, match="already 'suggest', the lowest level"):
        apply_change(profiles, "store_actions", "issue_refund", "demote", "carol", "y", log=log)
    with pytest.raises(AutonomyLimitError, match="already 'autonomous', the highest level"):
        apply_change(profiles, "store_actions", "send_email", "promote", "carol", "y", log=log)
    assert path.read_text() == before
    assert len(read_log(log)) == 1  # a refused change writes no entry
    assert _level(log, "store_actions", "issue_refund") == "suggest"
    assert _level(log, "store_actions", "send_email") is None  # nor a level


def test_a_change_needs_who_why_and_an_enabled_tool(profiles: Path, log: AutonomyLog) -> None:
    with pytest.raises(UserError, match="say why"):
        apply_change(profiles, "store_actions", "issue_refund", "demote", "c", " ", log=log)
    with pytest.raises(UserError, match="say who"):
        apply_change(profiles, "store_actions", "issue_refund", "demote", "", "x", log=log)
    with pytest.raises(UserError, match="does not enable 'issue_refund'"):
        apply_change(profiles, "store_support", "issue_refund", "demote", "c", "x", log=log)
    assert log.entries() == []


def test_a_tool_without_a_rule_gets_one(profiles: Path, log: AutonomyLog) -> None:
    path = profiles / "store_support.toml"
    assert "[rules" not in path.read_text()
    change = apply_change(
        profiles,
        "store_support",
        "get_order",
        "demote",
        "carol",
        "check order lookups",
        log=log,
        read_only=True,  # no rule: a read-only tool is autonomous
        write_file=True,
    )
    assert (change.from_level, change.to_level) == ("autonomous", "supervised")
    assert path.read_text().endswith('\n\n[rules.get_order]\nautonomy = "supervised"\n')
    assert ProfileCatalog(profiles).load("store_support").rules["get_order"].autonomy == (
        "supervised"
    )


async def _load(profiles: Path, name: str, log: AutonomyLog) -> Profile:
    """The profile as a task would load it: the real ``load_profile`` activity, overlaying the
    levels in ``log``'s state database."""
    registry = ToolRegistry(STORE_TOOLS)
    levels = AutonomyLevels(log.database)
    activities = ProfileActivities(ProfileCatalog(profiles), registry, "gpt-4o-mini", levels=levels)
    env = ActivityEnvironment()
    return await env.run(activities.load_profile, LoadProfileRequest(name=name))


async def test_the_policy_follows_a_change(profiles: Path, log: AutonomyLog) -> None:
    small, large = refund_args("10.00"), refund_args("80.00")

    def verdicts(profile: Profile) -> tuple[str, str]:
        return (
            gate(profile, "issue_refund", small, 0.9).action,
            gate(profile, "issue_refund", large, 0.9).action,
        )

    assert verdicts(await _load(profiles, "store_actions", log)) == ("auto", "review")
    apply_change(profiles, "store_actions", "issue_refund", "demote", "carol", "audit", log=log)
    assert verdicts(await _load(profiles, "store_actions", log)) == ("review", "review")
    apply_change(profiles, "store_actions", "issue_refund", "promote", "carol", "ok", log=log)
    apply_change(profiles, "store_actions", "issue_refund", "promote", "carol", "great", log=log)
    assert verdicts(await _load(profiles, "store_actions", log)) == ("auto", "auto")
    # Deny limits hold at every level.
    profile = await _load(profiles, "store_actions", log)
    assert gate(profile, "issue_refund", refund_args("900.00"), 0.99).action == "deny"
    assert profile.binding("issue_refund").rule.deny_above == Decimal(500)  # type: ignore[union-attr]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    return parser


async def test_the_promote_and_demote_commands(
    tmp_path: Path, profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = HandrailSettings(_env_file=None, data_dir=tmp_path / "data", profiles_dir=profiles)
    RunLedger(ledger_url(settings)).write_many(reviewed_refunds(_verdicts(25)))

    args = _parser().parse_args(["promote", "issue_refund", "--why", "25 of 25"])
    with pytest.raises(UserError, match="--as NAME"):
        await args.handler(settings, args)

    args = _parser().parse_args(["promote", "issue_refund", "--as", "carol", "--why", "25 of 25"])
    assert await args.handler(settings, args) == 0
    shown = capsys.readouterr().out
    assert "issue_refund in profile store_actions: supervised → autonomous" in shown
    assert "note:" not in shown  # stats recommended it
    [entry] = read_log(audit_log(settings))
    assert (entry.who, entry.recommended) == ("carol", True)
    assert entry.evidence is not None
    assert entry.evidence.approved == 25

    reviewer = settings.model_copy(update={"reviewer": "dave"})
    args = _parser().parse_args(["demote", "apply_discount", "--why", "spot check"])
    assert await args.handler(reviewer, args) == 0
    shown = capsys.readouterr().out
    assert "apply_discount in profile store_actions: supervised → suggest" in shown
    assert "note: stats did not recommend this (insufficient" in shown
    assert [(e.who, e.tool, e.recommended) for e in read_log(audit_log(settings))] == [
        ("carol", "issue_refund", True),
        ("dave", "apply_discount", False),
    ]


HELPDESK = """
name = "helpdesk"
system_prompt = "You close resolved tickets."
tools = ["search_tickets", "close_ticket"]
"""


async def test_a_tool_of_another_profile_is_reported_and_promoted(
    tmp_path: Path, profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tool facts come from the profile files and the recorded runs, not the store's tools:
    ``close_ticket`` and ``search_tickets`` are no store tools, and neither has a rule, so
    their level depends on what the runs show them to be."""
    (profiles / "helpdesk.toml").write_text(HELPDESK)
    settings = HandrailSettings(_env_file=None, data_dir=tmp_path / "data", profiles_dir=profiles)
    rolled_back = run(
        "helpdesk-rolled-back",
        [
            tool_step(0, "search_tickets", {"query": "printer"}),  # ran, nothing to undo
            tool_step(1, "close_ticket", {"ticket_id": 7}),
            escalate_step(2),
        ],
        status="escalated",
        profile="helpdesk",
        compensations=[undone(1, "close_ticket", "reopen_ticket")],
    )
    reviews = reviewed_refunds(_verdicts(20), profile="helpdesk", prefix="hd", tool="close_ticket")
    RunLedger(ledger_url(settings)).write_many([rolled_back, *reviews])

    args = _parser().parse_args(["stats", "--json", "--profile", "helpdesk"])
    assert await args.handler(settings, args) == 0
    report = json.loads(capsys.readouterr().out)
    levels = {a["tool"]: (a["level"], a["advice"]) for a in report["autonomy"]}
    assert levels == {
        "search_tickets": ("autonomous", "insufficient"),  # read-only: runs on its own
        "close_ticket": ("supervised", "promote"),
    }
    assert [(a["profile"], a["tool"]) for a in report["agreement"]] == [
        ("helpdesk", "close_ticket")
    ]

    args = _parser().parse_args(
        ["promote", "close_ticket", "--profile", "helpdesk", "--as", "carol", "--why", "20 of 20"]
    )
    assert await args.handler(settings, args) == 0
    assert "close_ticket in profile helpdesk: supervised → autonomous" in capsys.readouterr().out
    assert "close_ticket" not in ProfileCatalog(profiles).load("helpdesk").rules  # file as it was
    in_force = AutonomyLevels(audit_log(settings).database).current("helpdesk")
    assert in_force["close_ticket"].autonomy == "autonomous"
    [entry] = read_log(audit_log(settings))
    assert (entry.tool, entry.recommended) == ("close_ticket", True)


def test_a_registry_outranks_what_runs_suggest() -> None:
    declared = ToolFacts.from_registry(
        ToolRegistry(STORE_TOOLS), ["get_order", "send_email", "close_ticket"]
    )
    assert set(declared) == {"get_order", "send_email"}  # close_ticket is no store tool
    recorded = ToolFacts.from_recorded(
        [("get_order", False, True, False), ("close_ticket", False, False, True)]
    )
    facts = declared.merged(recorded)
    assert facts.read_only("get_order") is True  # the registry wins over a contradicting run
    assert facts.read_only("close_ticket") is True  # only the runs know it
    assert facts["send_email"].irreversible is True
    assert facts.read_only("reopen_ticket") is None  # nobody knows: no guess


def test_a_cluster_of_trouble_among_the_newest_actions_demotes_fast() -> None:
    """Demotion reads every action (denied or reviewed), not only the reviews: 4 troubles in
    the newest 20 actions reject "errs at most 5%" (P = 0.016) while the reviews alone would
    only hold; 3 in 20 (P = 0.075) or a clean record do not; at suggest nothing to demote to."""
    whole = Agreement.of(_verdicts(90, edit=2, reject=1))
    four = Trouble(actions=20, denied=2, disagreed=2)
    fast = assess("p", "issue_refund", "autonomous", whole, BAR, trouble=four)
    assert (fast.advice, fast.to) == ("demote", "supervised")
    assert fast.reason.startswith("newest 20 actions: 4 in trouble (2 denied, 2 not approved")
    assert assess("p", "issue_refund", "autonomous", whole, BAR).advice == "hold"
    three = Trouble(actions=20, denied=1, disagreed=2)
    assert assess("p", "issue_refund", "autonomous", whole, BAR, trouble=three).advice == "hold"
    # Clustered: 2 of the first 5 actions after a change are enough; 2 of 4 are too few actions.
    assert trouble_demotes(Trouble(actions=5, denied=2), BAR) is not None
    assert trouble_demotes(Trouble(actions=4, denied=4), BAR) is None
    assert assess("p", "issue_refund", "suggest", whole, BAR, trouble=four).advice != "demote"


def test_trouble_counts_denials_and_disagreements_over_every_action() -> None:
    found = Trouble.of([("auto", None), ("deny", None), ("review", "edit"), ("review", "approve")])
    assert (found.actions, found.denied, found.disagreed, found.troubles) == (4, 1, 1, 2)
    assert abs(binomial_tail(0, 10, 0.05) - 1.0) < 1e-12
    assert abs(binomial_tail(4, 20, 0.05) - 0.0159) < 1e-4
