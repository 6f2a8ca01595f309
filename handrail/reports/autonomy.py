"""Earned autonomy: when reviewers keep agreeing with a tool, recommend trusting it one level
more; when they stop, one level less. Recommend only: nothing here changes a profile by itself.

Levels, lowest first: ``suggest`` → ``supervised`` → ``autonomous`` (see ``handrail/policy.py``).

**The evidence.** For each tool of a profile, the reviews of that tool in that profile's runs,
decided *after the tool's last autonomy change* (from the audit log), newest first, at most
``window`` of them (default :data:`RECENT_REVIEWS`, so a recent drop shows). A level change
starts the count again: reviews gathered at the old level do not vouch for the new one, and one
streak of approvals never moves a tool two levels.

**Agreement** = approved unchanged / decided reviews, where a decided review is approved,
edited, rejected, or answered instead (the reviewer replaced the action with their own answer:
the model's proposal was not accepted, so it counts against agreement, like an edit). Reviews
that expired undecided are not counted.

**The bars** come from the profile's ``[autonomy]`` table (``handrail.profile_catalog``):

- fewer than ``min_reviews`` (default 20) reviews → no recommendation;
- agreement ≥ ``promote_at`` (default 0.95) → promote one level (unless already autonomous);
- agreement < ``demote_below`` (default 0.80) → demote one level (unless already at suggest).

**Asymmetric evidence: promote slowly, demote fast.** Promotion needs ``min_reviews`` over the
whole window; demotion is also judged on the newest :data:`DEMOTE_WINDOW` reviews alone, once
there are :data:`DEMOTE_MIN_REVIEWS` of them. At the autonomous level only a sample is reviewed,
and a rising error rate drowned in a window of 100 older good reviews would take hundreds of
tasks to show; the trust benchmark (``benchmarks/trust_sim.py``, docs/earned-trust.md) measured
why, and chose these numbers.

**Applying** a recommendation is ``handrail.reports.promotion``'s job; the changes it made are
read back from the audit log here (:func:`read_log`), to know when each tool last changed, and
the level in force from the state database's ``autonomy_levels`` (a tool nobody changed is at
its profile file's level: :func:`current_level`). The audit log is a table of the state
database (``handrail.storage.autonomy_log``); an old ``<data_dir>/autonomy_log.jsonl`` is
imported into it once, on first use, and renamed ``autonomy_log.jsonl.imported``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from handrail.contracts import Autonomy
from handrail.errors import UserError
from handrail.profile_catalog import AutonomyBar, ProfileFile
from handrail.reports.ledger import RunLedger
from handrail.reports.tool_facts import ToolFacts
from handrail.storage.autonomy_levels import AutonomyLevels, LevelInForce
from handrail.storage.autonomy_log import LEGACY_LOG_FILE, AutonomyLog

logger = logging.getLogger("handrail.autonomy")

LEVELS: Final[tuple[Autonomy, ...]] = ("suggest", "supervised", "autonomous")
RECENT_REVIEWS: Final = 100
DEMOTE_WINDOW: Final = 10
"""The newest reviews that can demote a tool on their own (since its last change)."""
DEMOTE_MIN_REVIEWS: Final = 5
"""How many of them a fast demotion needs (``min_reviews`` still applies to promotion)."""
AUDIT_LOG_FILE: Final = LEGACY_LOG_FILE
"""The old audit log file's name in ``<data_dir>``: imported into the state database once."""

Direction = Literal["promote", "demote"]
Advice = Literal["promote", "demote", "hold", "insufficient"]


class AutonomyLimitError(UserError):
    """A promotion past ``autonomous`` or a demotion past ``suggest``."""


class Agreement(BaseModel):
    """Reviewers' verdicts on one tool's proposals."""

    approved: int = 0
    edited: int = 0
    rejected: int = 0
    answered: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reviews(self) -> int:
        return self.approved + self.edited + self.rejected + self.answered

    @computed_field  # type: ignore[prop-decorator]
    @property
    def agreement(self) -> float | None:
        """Approved unchanged / decided reviews; ``None`` with no reviews."""
        return self.approved / self.reviews if self.reviews else None

    @classmethod
    def of(cls, verdicts: Iterable[str]) -> Agreement:
        counts = {"approve": 0, "edit": 0, "reject": 0, "answer": 0}
        for verdict in verdicts:
            if verdict in counts:
                counts[verdict] += 1
        return cls(
            approved=counts["approve"],
            edited=counts["edit"],
            rejected=counts["reject"],
            answered=counts["answer"],
        )

    @classmethod
    def of_counts(cls, counts: dict[str, int]) -> Agreement:
        return cls(
            approved=counts.get("approve", 0),
            edited=counts.get("edit", 0),
            rejected=counts.get("reject", 0),
            answered=counts.get("answer", 0),
        )


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
    recent: Agreement | None = None,
) -> Assessment:
    """The recommendation for one tool (pure). ``recent``: the newest reviews alone (at most
    :data:`DEMOTE_WINDOW`), which demote on their own once there are
    :data:`DEMOTE_MIN_REVIEWS` (none: only ``evidence`` decides, as before)."""

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

    fast = recent.agreement if recent is not None else None
    if (
        recent is not None
        and fast is not None
        and recent.reviews >= min(DEMOTE_MIN_REVIEWS, bar.min_reviews)
        and fast < bar.demote_below
        and level != LEVELS[0]
    ):
        to = next_level(level, "demote")
        return advise(
            "demote",
            f"newest {recent.reviews} reviews: {recent.approved} approved unchanged ({fast:.0%}) "
            f"< {bar.demote_below:.0%}: {level} → {to}",
            to,
        )
    agreement = evidence.agreement
    if agreement is None or evidence.reviews < bar.min_reviews:
        return advise("insufficient", f"{evidence.reviews} of the {bar.min_reviews} reviews needed")
    share = f"{evidence.approved} of {evidence.reviews} approved unchanged ({agreement:.0%})"
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


def assess_profile(
    ledger: RunLedger,
    file: ProfileFile,
    log: AutonomyLog,
    *,
    tools: ToolFacts | None = None,
    window: int = RECENT_REVIEWS,
) -> list[Assessment]:
    """An assessment for every tool the profile enables, from the ledger's reviews of it
    since its last change (at most ``window``, newest first). ``tools`` says which tools only
    read (the level of a tool without a rule depends on it: ``handrail.reports.tool_facts``)."""
    facts = tools if tools is not None else ToolFacts()
    changed = last_changes(log, profile=file.name)
    # The level in force is the shared state's, as the workers gate with (the file is only
    # where a tool starts).
    levels = AutonomyLevels(log.database).current(file.name)
    found = []
    for tool in file.tools:
        since = changed.get((file.name, tool))
        verdicts = ledger.recent_verdicts(file.name, tool, after=since, limit=window)
        level = current_level(file, tool, read_only=facts.read_only(tool), levels=levels)
        found.append(
            assess(
                file.name,
                tool,
                level,
                Agreement.of(verdicts),
                file.autonomy,
                since=since,
                recent=Agreement.of(verdicts[:DEMOTE_WINDOW]),
            )
        )
    return found
