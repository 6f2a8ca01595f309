"""Earned autonomy: when reviewers keep agreeing with a tool, recommend trusting it one level
more; when they stop, one level less. Recommend only: nothing here changes a profile by itself.

Levels, lowest first: ``suggest`` → ``supervised`` → ``autonomous`` (see
``handrail/policy/gate.py``).

**The evidence.** For each tool of a profile, the reviews of that tool in that profile's runs,
decided *after the tool's last autonomy change* (from the audit log), newest first, at most
``window`` of them (default :data:`RECENT_REVIEWS`, so a recent drop shows). A level change
starts the count again: reviews gathered at the old level do not vouch for the new one, and one
streak of approvals never moves a tool two levels.

**Agreement** = approved unchanged / (decided reviews + policy denials), where a decided review
is approved, edited, rejected, or answered instead (the reviewer replaced the action with their
own answer: the model's proposal was not accepted, so it counts against agreement, like an
edit), and a denial is a proposal of the tool the policy refused among its newest ``window``
actions (no reviewer saw it; none would have approved it). Reviews that expired undecided are
not counted.

**The bars** come from the profile's ``[autonomy]`` table (``handrail.profiles.catalog``):

- fewer than ``min_reviews`` (default 20) reviews → no recommendation;
- agreement ≥ ``promote_at`` (default 0.95) → promote one level (unless already autonomous);
- agreement < ``demote_below`` (default 0.80) → demote one level (unless already at suggest).

**Asymmetric evidence: promote slowly, demote fast.** Promotion needs ``min_reviews`` over the
whole window. Demotion also reads every *action* of the tool since its last change, newest
:data:`DEMOTE_WINDOW` of them, not only the reviewed ones: an action is *trouble* when the policy
denied it or a reviewer did not approve it unchanged. At ``supervised`` the gate sends only the
risky actions to a person, so the reviews are few and chosen for being suspect (their agreement
says little about the tool); at ``autonomous`` only a sample is reviewed. Trouble per action
counts both the reviews and the denials, over a denominator the gate did not pick. It demotes
when a one-sided binomial test rejects "trouble ≤ ``1 - promote_at``" (the rate the tool was
promoted on) at :data:`DEMOTE_ALPHA`: a cluster (2 of the newest 5, 3 of 14, 4 of 20) is enough.
The trust benchmark (``benchmarks/trust_sim.py``, docs/earned-trust.md) measured why, and what
it costs in false demotions of healthy tools.

**Applying** a recommendation is ``handrail.trust.promotion``'s job; the changes it made are
read back from the audit log here (:func:`read_log`), to know when each tool last changed, and
the level in force from the state database's ``autonomy_levels`` (a tool nobody changed is at
its profile file's level: :func:`current_level`). The audit log is a table of the state
database (``handrail.storage.autonomy_log``); an old ``<data_dir>/autonomy_log.jsonl`` is
imported into it once, on first use, and renamed ``autonomy_log.jsonl.imported``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handrail.contracts import Autonomy
from handrail.errors import UserError
from handrail.profiles.catalog import AutonomyBar, ProfileFile
from handrail.storage.autonomy_levels import AutonomyLevels, LevelInForce
from handrail.storage.autonomy_log import LEGACY_LOG_FILE, AutonomyLog
from handrail.storage.ledger import RunLedger
from handrail.storage.ledger_evidence import recent_actions, recent_verdicts
from handrail.trust.evidence import (
    DEMOTE_WINDOW,
    Agreement,
    Trouble,
    trouble_demotes,
)
from handrail.trust.tool_facts import ToolFacts

logger = logging.getLogger("handrail.autonomy")

LEVELS: Final[tuple[Autonomy, ...]] = ("suggest", "supervised", "autonomous")
RECENT_REVIEWS: Final = 100
AUDIT_LOG_FILE: Final = LEGACY_LOG_FILE
"""The old audit log file's name in ``<data_dir>``: imported into the state database once."""

Direction = Literal["promote", "demote"]
Advice = Literal["promote", "demote", "hold", "insufficient"]


class AutonomyLimitError(UserError):
    """A promotion past ``autonomous`` or a demotion past ``suggest``."""


class Assessment(BaseModel):
    """What the evidence says about one tool of one profile."""

    profile: str
    tool: str
    level: Autonomy
    advice: Advice
    to: Autonomy | None = Field(default=None, description="The recommended level, if any.")
    evidence: Agreement
    since: datetime | None = Field(
        default=None, description="Reviews counted from here: the tool's last autonomy change."
    )
    reason: str

    @property
    def actionable(self) -> bool:
        return self.advice in ("promote", "demote")


class AutonomyChange(BaseModel):
    """One applied change, as the audit log keeps it (one JSON object per change)."""

    model_config = ConfigDict(populate_by_name=True)

    at: datetime
    who: str
    why: str
    profile: str
    tool: str
    direction: Direction
    from_level: Autonomy = Field(alias="from")
    to_level: Autonomy = Field(alias="to")
    evidence: Agreement | None = Field(
        default=None, description="The reviews that stood behind it (since the last change)."
    )
    recommended: bool | None = Field(
        default=None, description="Whether stats recommended this change when it was applied."
    )
    file: str | None = Field(
        default=None,
        description="The profile file also edited (promote --write-file; every change before "
        "levels moved into the state database edited one).",
    )


def next_level(level: Autonomy, direction: Direction) -> Autonomy:
    """One level up or down; :class:`AutonomyLimitError` past either end."""
    position = LEVELS.index(level) + (1 if direction == "promote" else -1)
    if position >= len(LEVELS):
        raise AutonomyLimitError(f"already {level!r}, the highest level: nothing to promote to")
    if position < 0:
        raise AutonomyLimitError(f"already {level!r}, the lowest level: nothing to demote to")
    return LEVELS[position]


def current_level(
    file: ProfileFile,
    tool: str,
    *,
    read_only: bool | None = False,
    levels: Mapping[str, LevelInForce] | None = None,
) -> Autonomy:
    """A tool's level in force: the state database's (``levels``, from
    ``AutonomyLevels.current``) if a person changed it, else the profile file's; without a
    rule, the loader's default (reads run on their own, anything else is supervised: see
    ``activities/profiles.py``). ``read_only=None`` (not known) counts as not read-only, as the
    loader counts a tool not declared read-only."""
    in_force = (levels or {}).get(tool)
    if in_force is not None and in_force.autonomy in LEVELS:
        return in_force.autonomy
    rule = file.rules.get(tool)
    if rule is not None:
        return rule.autonomy
    return "autonomous" if read_only else "supervised"


def assess(
    profile: str,
    tool: str,
    level: Autonomy,
    evidence: Agreement,
    bar: AutonomyBar,
    *,
    since: datetime | None = None,
    trouble: Trouble | None = None,
) -> Assessment:
    """The recommendation for one tool (pure). ``trouble``: its newest actions (at most
    :data:`DEMOTE_WINDOW`), which demote on their own when :func:`trouble_demotes` says so
    (none: only ``evidence`` decides)."""

    def advise(advice: Advice, reason: str, to: Autonomy | None = None) -> Assessment:
        return Assessment(
            profile=profile,
            tool=tool,
            level=level,
            advice=advice,
            to=to,
            evidence=evidence,
            since=since,
            reason=reason,
        )

    tail = trouble_demotes(trouble, bar) if trouble is not None else None
    if trouble is not None and tail is not None and level != LEVELS[0]:
        to = next_level(level, "demote")
        return advise(
            "demote",
            f"newest {trouble.actions} actions: {trouble.troubles} in trouble ({trouble.denied} "
            f"denied, {trouble.disagreed} not approved unchanged); P = {tail:.3f} if it erred "
            f"{1 - bar.promote_at:.0%}: {level} → {to}",
            to,
        )
    agreement = evidence.agreement
    if agreement is None or evidence.reviews < bar.min_reviews:
        return advise("insufficient", f"{evidence.reviews} of the {bar.min_reviews} reviews needed")
    denied = f", {evidence.denied} more denied by the policy" if evidence.denied else ""
    approved = f"{evidence.approved} of {evidence.reviews} approved unchanged"
    share = f"{approved}{denied} ({agreement:.0%})"
    if agreement >= bar.promote_at:
        if level == LEVELS[-1]:
            return advise("hold", f"{share}; already {level}")
        to = next_level(level, "promote")
        return advise("promote", f"{share} ≥ {bar.promote_at:.0%}: {level} → {to}", to)
    if agreement < bar.demote_below:
        if level == LEVELS[0]:
            return advise("hold", f"{share}; already {level}")
        to = next_level(level, "demote")
        return advise("demote", f"{share} < {bar.demote_below:.0%}: {level} → {to}", to)
    return advise(
        "hold", f"{share}, between {bar.demote_below:.0%} and {bar.promote_at:.0%}: keep {level}"
    )


# --- the audit log --------------------------------------------------------------------------


def read_log(log: AutonomyLog, *, profile: str | None = None) -> list[AutonomyChange]:
    """Every change applied so far (to ``profile``'s tools), oldest first (an entry that does
    not parse is skipped and logged, so one damaged entry does not hide the rest)."""
    changes = []
    for entry in log.entries(profile=profile):
        try:
            changes.append(AutonomyChange.model_validate_json(entry.payload))
        except ValidationError as error:
            logger.warning("%s entry %d is not an autonomy change: %s", log.where, entry.id, error)
    return changes


def last_changes(
    log: AutonomyLog, *, profile: str | None = None
) -> dict[tuple[str, str], datetime]:
    """(profile, tool) → when its autonomy last changed."""
    latest: dict[tuple[str, str], datetime] = {}
    for change in read_log(log, profile=profile):
        key = (change.profile, change.tool)
        if key not in latest or change.at > latest[key]:
            latest[key] = change.at
    return latest


def assess_tool(
    ledger: RunLedger,
    file: ProfileFile,
    tool: str,
    level: Autonomy,
    *,
    since: datetime | None,
    window: int = RECENT_REVIEWS,
) -> Assessment:
    """One tool's assessment at ``level`` from the ledger since its last change (``since``):
    its newest ``window`` reviews, the denials among its newest ``window`` actions (both count
    for promotion), and its newest :data:`DEMOTE_WINDOW` actions (the trouble test)."""
    verdicts = recent_verdicts(ledger, file.name, tool, after=since, limit=window)
    # Every gated step, reviewed or not, so the trouble test's denominator is not the gate's
    # choice.
    actions = recent_actions(ledger, file.name, tool, after=since, limit=window)
    evidence = Agreement.of(verdicts).model_copy(update={"denied": Trouble.of(actions).denied})
    return assess(
        file.name,
        tool,
        level,
        evidence,
        file.autonomy,
        since=since,
        trouble=Trouble.of(actions[:DEMOTE_WINDOW]),
    )


def assess_profile(
    ledger: RunLedger,
    file: ProfileFile,
    log: AutonomyLog,
    *,
    tools: ToolFacts | None = None,
    window: int = RECENT_REVIEWS,
    only: Collection[str] | None = None,
) -> list[Assessment]:
    """An assessment for every tool the profile enables (or those of them in ``only``), from
    the ledger since its last change (:func:`assess_tool`). ``tools`` says which tools only
    read (the level of a tool without a rule depends on it: ``handrail.trust.tool_facts``)."""
    facts = tools if tools is not None else ToolFacts()
    changed = last_changes(log, profile=file.name)
    # The level in force is the shared state's, as the workers gate with (the file is only
    # where a tool starts).
    levels = AutonomyLevels(log.database).current(file.name)
    return [
        assess_tool(
            ledger,
            file,
            tool,
            current_level(file, tool, read_only=facts.read_only(tool), levels=levels),
            since=changed.get((file.name, tool)),
            window=window,
        )
        for tool in file.tools
        if only is None or tool in only
    ]
