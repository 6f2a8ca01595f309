"""Applying an autonomy change, on a person's say-so (``starter.py promote`` / ``demote``);
``handrail.trust.autonomy`` only recommends.

:func:`apply_change` moves a tool one level in Handrail's shared state (the ``autonomy_levels``
table, ``handrail.storage.autonomy_levels``) in one transaction with its audit entry (who, why,
when, from, to and the evidence, in ``autonomy_changes``). Every worker host overlays those
levels on its profile files when a task loads its profile, so the next task on any host runs
under the new level; tasks already running keep the profile they loaded.

**The file is the starting point, not the truth.** A tool the state has no level for is at its
profile file's level, and the first change starts from there. Editing the file is no longer
how a level changes (it changed one host's copy only); ``write_file=True`` (``promote
--write-file``) also writes the new level into the profile file, for a team that keeps its
profiles under version control: ``tomlkit`` keeps comments and layout, the result is validated
as a profile before the state changes, and replaced atomically after it did. The state wins
whenever the two disagree.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import tomlkit
from pydantic import ValidationError
from tomlkit.container import OutOfOrderTableProxy
from tomlkit.items import Item, Table

from handrail.contracts import Autonomy
from handrail.errors import InvalidProfileError, UserError, describe_validation_error
from handrail.profiles.catalog import ProfileCatalog, ProfileFile
from handrail.storage.autonomy_levels import AutonomyLevels
from handrail.storage.autonomy_log import AutonomyLog
from handrail.trust.autonomy import (
    AutonomyChange,
    AutonomyLimitError,
    Direction,
    current_level,
    next_level,
)
from handrail.trust.evidence import Agreement
from handrail.trust.tool_facts import ToolFacts

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


def _catalog(profiles: Path | Sequence[Path] | ProfileCatalog) -> ProfileCatalog:
    return profiles if isinstance(profiles, ProfileCatalog) else ProfileCatalog(profiles)


def _edited_file(path: Path, tool: str, level: Autonomy, read_only: bool | None) -> Path:
    """The profile file with ``tool`` at ``level``, validated, staged beside ``path``."""
    text = _set_autonomy(path.read_text(encoding="utf-8"), tool, level)
    try:
        edited = ProfileFile.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        detail = (
            describe_validation_error("profile", error)
            if isinstance(error, ValidationError)
            else str(error)
        )
        raise InvalidProfileError(f"editing {path} would break it ({detail}); unchanged") from None
    if current_level(edited, tool, read_only=read_only) != level:
        raise InvalidProfileError(f"editing {path} did not set {tool} to {level!r}; unchanged")
    return _stage(path, text)


def apply_change(
    profiles: Path | Sequence[Path] | ProfileCatalog,
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
    expected: Autonomy | None = None,
    write_file: bool = False,
) -> AutonomyChange:
    """Move ``tool`` one level in ``profile``, on a person's say-so, and record it.

    ``profiles``: the profile folders (or a catalog) the profile is read from. The new level
    and the audit entry are written to ``log``'s state database in one transaction. ``log_path``
    instead of ``log`` names an old ``autonomy_log.jsonl``: the state is then the SQLite
    database ``handrail.db`` beside it (``AutonomyLog.beside``).

    Refuses (``UserError``) without a name and a reason, for a tool the profile does not
    enable, past either end of the ladder, or, with ``expected``, when the level in force is
    another (someone changed it since the caller looked). The level in force is read under the
    transaction's lock, so two changes at once take turns and neither is lost.

    A tool with neither a level in the state nor a rule starts from its default level, which
    depends on whether it only reads: ``read_only`` if given, else what ``tools`` knows. Not
    knowing counts as not read-only (the loader's default too); the error can only be a more
    cautious level.
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
    catalog = _catalog(profiles)
    file = catalog.load(profile)
    if tool not in file.tools:
        raise UserError(
            f"profile {profile!r} does not enable {tool!r} (its tools: {', '.join(file.tools)})"
        )
    if read_only is None and tools is not None:
        read_only = tools.read_only(tool)
    path = catalog.path(profile) if write_file else None
    staged: list[Path] = []

    def plan(level: Autonomy) -> tuple[Autonomy, dict[str, object]]:
        if expected is not None and level != expected:
            raise UserError(
                f"{tool} in {profile} is now {level!r}, not {expected!r}: someone changed it; "
                "look again (starter.py stats) before changing it"
            )
        try:
            after = next_level(level, direction)
        except AutonomyLimitError as error:
            raise AutonomyLimitError(f"cannot {direction} {tool} in {profile}: {error}") from None
        if path is not None:  # validated before the state changes; replaced after it did
            staged.append(_edited_file(path, tool, after, read_only))
        change = AutonomyChange(
            at=now or datetime.now(UTC),
            who=who,
            why=why,
            profile=profile,
            tool=tool,
            direction=direction,
            from_level=level,
            to_level=after,
            evidence=evidence,
            recommended=recommended,
            file=str(path) if path is not None else None,
        )
        return after, change.model_dump(mode="json", by_alias=True)

    start = current_level(file, tool, read_only=read_only)
    try:
        _, entry = AutonomyLevels(log.database).change(
            profile, tool, start=start, plan=plan, log=log
        )
    except BaseException:
        for name in staged:
            name.unlink(missing_ok=True)
        raise
    for name in staged:
        assert path is not None
        os.replace(name, path)
    return AutonomyChange.model_validate_json(entry.payload)


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
