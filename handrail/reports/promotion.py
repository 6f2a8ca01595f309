"""Applying an autonomy change to a profile file, on a person's say-so (``starter.py promote`` /
``demote``); ``handrail.reports.autonomy`` only recommends.

:func:`apply_change` rewrites ``[rules.TOOL] autonomy`` with ``tomlkit`` (comments and layout
survive), validates the result as a profile before it lands, replaces the file atomically, and
records who, why, when, from, to and the evidence in the autonomy audit log, a table of the state
database (``handrail.storage.autonomy_log``; an old ``autonomy_log.jsonl`` is imported into it
once). The next task that loads the profile runs under the new level; tasks already running keep
the profile they loaded.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import tomlkit
from pydantic import ValidationError
from tomlkit.container import OutOfOrderTableProxy
from tomlkit.items import Item, Table

from handrail.contracts import Autonomy
from handrail.errors import InvalidProfileError, UserError, describe_validation_error
from handrail.profile_catalog import ProfileCatalog, ProfileFile
from handrail.reports.autonomy import (
    Agreement,
    AutonomyChange,
    AutonomyLimitError,
    Direction,
    current_level,
    next_level,
)
from handrail.reports.tool_facts import ToolFacts
from handrail.storage.autonomy_log import AutonomyLog

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


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
    log: AutonomyLog | None = None,
    log_path: Path | None = None,
    evidence: Agreement | None = None,
    recommended: bool | None = None,
    tools: ToolFacts | None = None,
    read_only: bool | None = None,
    now: datetime | None = None,
) -> AutonomyChange:
    """Move ``tool`` one level in ``profile``'s file, on a person's say-so, and record it.

    Refuses (``UserError``) without a name and a reason, for a tool the profile does not
    enable, or past either end of the ladder. The edited file must validate as a profile
    before it replaces the old one; the audit entry is committed to ``log`` before the file is
    replaced. ``log_path`` instead of ``log`` names an old ``autonomy_log.jsonl``: the log is
    then the SQLite state database ``handrail.db`` beside it (``AutonomyLog.beside``).

    A tool without a rule starts from its default level, which depends on whether it only
    reads: ``read_only`` if given, else what ``tools`` knows. Not knowing counts as not
    read-only (the loader's default too); the error can only be a more cautious level.
    """
    if log is None:
        if log_path is None:
            raise TypeError("apply_change needs the audit log (log=AutonomyLog(...))")
        log = AutonomyLog.beside(log_path)
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
    if read_only is None and tools is not None:
        read_only = tools.read_only(tool)
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
        log.append(change.model_dump(mode="json", by_alias=True))
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
