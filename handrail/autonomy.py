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

**Applying.** Only :func:`apply_change` edits a profile (``starter.py promote`` / ``demote``): it
rewrites ``[rules.TOOL] autonomy`` with ``tomlkit`` (comments and layout survive), validates the
result as a profile before it lands, replaces the file atomically, and appends who, why, when,
from, to and the evidence to ``autonomy_log.jsonl``. The next task that loads the profile runs
under the new level; tasks already running keep the profile they loaded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field
from tomlkit.container import OutOfOrderTableProxy
from tomlkit.items import Item, Table

from handrail.contracts import Autonomy
from handrail.errors import InvalidProfileError, UserError, describe_validation_error
from handrail.ledger import RunLedger
from handrail.profile_catalog import AutonomyBar, ProfileCatalog, ProfileFile

log = logging.getLogger("handrail.autonomy")

LEVELS: Final[tuple[Autonomy, ...]] = ("suggest", "supervised", "autonomous")
RECENT_REVIEWS: Final = 100
AUDIT_LOG_FILE: Final = "autonomy_log.jsonl"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

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
    """One applied change, as the audit log keeps it (one JSON object per line)."""

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
    file: str


def next_level(level: Autonomy, direction: Direction) -> Autonomy:
    """One level up or down; :class:`AutonomyLimitError` past either end."""
    position = LEVELS.index(level) + (1 if direction == "promote" else -1)
    if position >= len(LEVELS):
        raise AutonomyLimitError(f"already {level!r}, the highest level: nothing to promote to")
    if position < 0:
        raise AutonomyLimitError(f"already {level!r}, the lowest level: nothing to demote to")
    return LEVELS[position]


def current_level(file: ProfileFile, tool: str, *, read_only: bool = False) -> Autonomy:
    """A tool's level in a profile file; without a rule, the loader's default (reads run on
    their own, anything else is supervised: see ``activities/profiles.py``)."""
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
) -> Assessment:
    """The recommendation for one tool (pure)."""

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


def read_log(log_path: Path) -> list[AutonomyChange]:
    """Every change applied so far, oldest first (a line that does not parse is skipped and
    logged, so one damaged line does not hide the rest)."""
    if not log_path.is_file():
        return []
    changes = []
    for number, line in enumerate(log_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            changes.append(AutonomyChange.model_validate_json(line))
        except ValidationError as error:
            log.warning("%s line %d is not an autonomy change: %s", log_path, number, error)
    return changes


def last_changes(log_path: Path) -> dict[tuple[str, str], datetime]:
    """(profile, tool) → when its autonomy last changed."""
    latest: dict[tuple[str, str], datetime] = {}
    for change in read_log(log_path):
        key = (change.profile, change.tool)
        if key not in latest or change.at > latest[key]:
            latest[key] = change.at
    return latest


def assess_profile(
    ledger: RunLedger,
    file: ProfileFile,
    log_path: Path,
    *,
    is_read_only: Callable[[str], bool] = lambda _tool: False,
    window: int = RECENT_REVIEWS,
) -> list[Assessment]:
    """An assessment for every tool the profile enables, from the ledger's reviews of it
    since its last change (at most ``window``, newest first)."""
    changed = last_changes(log_path)
    found = []
    for tool in file.tools:
        since = changed.get((file.name, tool))
        verdicts = ledger.recent_verdicts(file.name, tool, after=since, limit=window)
        level = current_level(file, tool, read_only=is_read_only(tool))
        found.append(
            assess(file.name, tool, level, Agreement.of(verdicts), file.autonomy, since=since)
        )
    return found


# --- applying a change ----------------------------------------------------------------------


def _set_autonomy(text: str, tool: str, level: Autonomy) -> str:
    """``text`` with ``[rules.<tool>] autonomy = level``, everything else as it was."""
    doc = tomlkit.parse(text)
    rules = doc.get("rules")
    # Tables split by others in the file ([rules.a], [[review_tiers]], [rules.b]) come back as
    # a proxy that reads and writes like a table.
    is_table = isinstance(rules, (Table, OutOfOrderTableProxy))
    rule = rules.get(tool) if isinstance(rules, (Table, OutOfOrderTableProxy)) else None
    if isinstance(rule, Table):
        old = rule.item("autonomy") if "autonomy" in rule else None
        if isinstance(old, Item):
            new = tomlkit.item(level)
            new.trivia.comment_ws, new.trivia.comment = old.trivia.comment_ws, old.trivia.comment
            rule["autonomy"] = new  # keeps its place and its end-of-line comment
        else:
            # Table.add would append after any comment that introduces the next section.
            rule.value._insert_at(0, "autonomy", tomlkit.item(level))
        return tomlkit.dumps(doc)
    if rules is None or is_table:
        # A new [rules.<tool>] table at the end of the file, where it cannot split a comment
        # from the section it introduces (TOML allows a table anywhere after its parent's).
        key = tool if _BARE_KEY.match(tool) else json.dumps(tool)
        return text.rstrip("\n") + f'\n\n[rules.{key}]\nautonomy = "{level}"\n'
    raise InvalidProfileError("`rules` must be a table of per-tool tables")


def apply_change(
    profiles_dir: Path,
    profile: str,
    tool: str,
    direction: Direction,
    who: str,
    why: str,
    *,
    log_path: Path,
    evidence: Agreement | None = None,
    recommended: bool | None = None,
    read_only: bool = False,
    now: datetime | None = None,
) -> AutonomyChange:
    """Move ``tool`` one level in ``profile``'s file, on a person's say-so, and record it.

    Refuses (``UserError``) without a name and a reason, for a tool the profile does not
    enable, or past either end of the ladder. The edited file must validate as a profile
    before it replaces the old one; the audit entry is written before the file is replaced.
    """
    who, why = who.strip(), why.strip()
    if not who:
        raise UserError("say who decides this change (--as NAME or HANDRAIL_REVIEWER)")
    if not why:
        raise UserError("say why (--why TEXT): the audit log keeps it")
    file = ProfileCatalog(profiles_dir).load(profile)
    if tool not in file.tools:
        raise UserError(
            f"profile {profile!r} does not enable {tool!r} (its tools: {', '.join(file.tools)})"
        )
    before = current_level(file, tool, read_only=read_only)
    try:
        after = next_level(before, direction)
    except AutonomyLimitError as error:
        raise AutonomyLimitError(f"cannot {direction} {tool} in {profile}: {error}") from None

    path = profiles_dir / f"{profile}.toml"
    text = _set_autonomy(path.read_text(encoding="utf-8"), tool, after)
    try:
        edited = ProfileFile.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        detail = (
            describe_validation_error("profile", error)
            if isinstance(error, ValidationError)
            else str(error)
        )
        raise InvalidProfileError(f"editing {path} would break it ({detail}); unchanged") from None
    if current_level(edited, tool, read_only=read_only) != after:
        raise InvalidProfileError(f"editing {path} did not set {tool} to {after!r}; unchanged")

    change = AutonomyChange(
        at=now or datetime.now(UTC),
        who=who,
        why=why,
        profile=profile,
        tool=tool,
        direction=direction,
        from_level=before,
        to_level=after,
        evidence=evidence,
        recommended=recommended,
        file=str(path),
    )
    staged = _stage(path, text)
    try:
        _append(log_path, change.model_dump(mode="json", by_alias=True))
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return change


def _stage(path: Path, text: str) -> Path:
    """``text`` in a temporary file beside ``path``, flushed to disk, ready to replace it."""
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, path.stat().st_mode & 0o777)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _append(log_path: Path, entry: dict[str, Any]) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
    with log_path.open("a", encoding="utf-8") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())
