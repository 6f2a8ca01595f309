"""``starter.py stats | promote | demote | export``: the run ledger from the command line.

stats    success and failure rates, latency, tokens and cost, escalation, reviewer agreement,
         and earned-autonomy recommendations for every profile the ledger holds (``--profile``
         narrows); a table (or ``--json``) and an HTML report file
promote  move a tool one autonomy level up in a profile, recorded with who and why (the
         profile may be left out when only one profile enables the tool)
demote   move a tool one autonomy level down (both in the state database, read by every worker)
export   every recorded decision as JSONL training data (docs/training-data.md)

All read the run ledger in the state database (``HANDRAIL_STATE_URL``); nothing here replays a
workflow or needs a Temporal server. Promotions and demotions set the level in force in the same
database (``autonomy_levels``, which every worker overlays on its profile files when a task
loads its profile), in one transaction with their entry in the autonomy audit log (an old
``<data_dir>/autonomy_log.jsonl`` is imported once and renamed ``autonomy_log.jsonl.imported``).
``--write-file`` also writes the level into the profile file, for profiles kept in version
control; the state stays the truth.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from handrail.errors import UserError
from handrail.profiles.catalog import ProfileCatalog, ProfileFile
from handrail.reports.export import export_jsonl
from handrail.reports.render_html import format_html
from handrail.reports.render_text import format_json, format_table
from handrail.reports.stats import compute_stats
from handrail.settings import HandrailSettings
from handrail.storage.autonomy_log import AutonomyLog
from handrail.storage.ledger import RunLedger, ledger_url
from handrail.storage.ledger_evidence import recorded_actions
from handrail.trust.autonomy import AUDIT_LOG_FILE, AutonomyChange, Direction, assess_profile
from handrail.trust.promotion import apply_change
from handrail.trust.tool_facts import known_facts

_RELATIVE = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def audit_log(settings: HandrailSettings, ledger: RunLedger | None = None) -> AutonomyLog:
    """The autonomy audit log: in the ledger's state database, importing the old file once."""
    state = ledger.database if ledger is not None else ledger_url(settings)
    return AutonomyLog(state, legacy_file=settings.data_dir / AUDIT_LOG_FILE)


def _since(text: str) -> datetime:
    """``--since``: an ISO date or time (UTC unless it says otherwise), or ``7d``/``12h``/``30m``
    ago."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = relative.groups()
        return datetime.now(UTC) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO date/time nor a span like 7d, 12h, 30m"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _held_profiles(ledger: RunLedger, catalog: ProfileCatalog) -> list[ProfileFile]:
    """The profiles the ledger's runs used, as their files say now (a profile whose file is
    gone cannot be assessed: said on stderr)."""
    held = sorted({profile for profile, _ in recorded_actions(ledger)})
    known = set(catalog.names())
    gone = [name for name in held if name not in known]
    if gone:
        print(f"not assessed (no profile file): {', '.join(gone)}", file=sys.stderr)
    return [catalog.load(name) for name in held if name in known]


async def cmd_stats(settings: HandrailSettings, args: argparse.Namespace) -> int:
    catalog = ProfileCatalog(settings.profile_folders)
    asked = catalog.load(args.profile) if args.profile else None  # before reading the ledger
    ledger = await asyncio.to_thread(RunLedger, ledger_url(settings))
    profiles = [asked] if asked else await asyncio.to_thread(_held_profiles, ledger, catalog)
    tools = await asyncio.to_thread(known_facts, ledger, settings.profile_folders)
    report = await asyncio.to_thread(
        compute_stats,
        ledger,
        since=args.since,
        profiles=profiles,
        log=audit_log(settings, ledger),
        tools=tools,
    )
    html_path: Path = args.html or settings.data_dir / "stats.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(html_path.write_text, format_html(report), encoding="utf-8")
    if args.json:
        sys.stdout.write(format_json(report))
        print(f"HTML report: {html_path}", file=sys.stderr)
    else:
        sys.stdout.write(format_table(report))
        print(f"\nHTML report: {html_path}")
    return 0


async def _change(
    settings: HandrailSettings, args: argparse.Namespace, direction: Direction
) -> int:
    who = args.reviewer or settings.reviewer
    if not who:
        raise UserError("say who decides: --as NAME (or set HANDRAIL_REVIEWER)")
    catalog = ProfileCatalog(settings.profile_folders)
    profile = catalog.load(args.profile) if args.profile else _only_profile_with(catalog, args.tool)
    ledger = await asyncio.to_thread(RunLedger, ledger_url(settings))
    log = audit_log(settings, ledger)
    tools = await asyncio.to_thread(known_facts, ledger, settings.profile_folders)
    assessments = await asyncio.to_thread(assess_profile, ledger, profile, log, tools=tools)
    assessment = next((a for a in assessments if a.tool == args.tool), None)
    change: AutonomyChange = await asyncio.to_thread(
        apply_change,
        catalog,
        profile.name,
        args.tool,
        direction,
        who,
        args.why,
        log=log,
        evidence=assessment.evidence if assessment else None,
        recommended=assessment.advice == direction if assessment else None,
        tools=tools,
        write_file=args.write_file,
    )
    print(
        f"{change.tool} in profile {change.profile}: {change.from_level} → {change.to_level} "
        f"({direction}d by {change.who}: {change.why})"
    )
    print(f"  level and audit entry recorded in {log.database.redacted}")
    if change.file:
        print(f"  also written to {change.file}")
    if assessment is not None and assessment.advice != direction:
        print(f"  note: stats did not recommend this ({assessment.advice}: {assessment.reason})")
    print(
        "  tasks that start from now on, on every worker, load the new level; "
        "running tasks keep theirs"
    )
    return 0


def _only_profile_with(catalog: ProfileCatalog, tool: str) -> ProfileFile:
    """The one profile that enables ``tool`` (names it, or rules it: an MCP tool); a
    ``UserError`` naming the choices when none or several do."""
    having = [
        profile
        for profile in map(catalog.load, catalog.names())
        if tool in profile.tools or tool in profile.rules
    ]
    if len(having) == 1:
        return having[0]
    if not having:
        known = ", ".join(catalog.names()) or "none"
        raise UserError(f"no profile enables {tool!r} (profiles: {known}); name one: --profile")
    names = ", ".join(profile.name for profile in having)
    raise UserError(f"{tool!r} is in several profiles ({names}): say which with --profile")


async def cmd_promote(settings: HandrailSettings, args: argparse.Namespace) -> int:
    return await _change(settings, args, "promote")


async def cmd_demote(settings: HandrailSettings, args: argparse.Namespace) -> int:
    return await _change(settings, args, "demote")


async def cmd_export(settings: HandrailSettings, args: argparse.Namespace) -> int:
    ledger = await asyncio.to_thread(RunLedger, ledger_url(settings))
    out = cast(Path, args.out)
    written = await asyncio.to_thread(export_jsonl, ledger, out, since=args.since)
    print(f"wrote {written} decision(s) to {out} (schema: docs/training-data.md)")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``stats``, ``promote``, ``demote`` and ``export`` to starter.py's subcommands."""
    stats = commands.add_parser(
        "stats",
        help="rates, latency, cost, review agreement and autonomy advice, from the run ledger",
        description="Reads the run ledger (in HANDRAIL_STATE_URL): no workflow is replayed. "
        "Prints a table (or JSON) and writes an HTML report.",
    )
    stats.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    stats.add_argument(
        "--html", type=Path, help="where to write the HTML report (default <data_dir>/stats.html)"
    )
    stats.add_argument(
        "--profile", help="assess autonomy for this profile only (default: every profile run)"
    )
    stats.add_argument(
        "--since", type=_since, help="only tasks finished since (ISO date/time, or 7d, 12h, 30m)"
    )
    stats.set_defaults(handler=cmd_stats)

    for direction, handler, word in (
        ("promote", cmd_promote, "up"),
        ("demote", cmd_demote, "down"),
    ):
        change = commands.add_parser(
            direction,
            help=f"move a tool one autonomy level {word} in a profile (recorded: who and why)",
            description="Sets the tool's level in the state database (HANDRAIL_STATE_URL), "
            "which every worker reads when a task loads its profile, in one transaction with "
            "who, why and the review evidence in the autonomy audit log. The profile file is "
            "only the starting level.",
        )
        change.add_argument("tool")
        change.add_argument(
            "--profile", help="the tool's profile (default: the one profile that enables it)"
        )
        change.add_argument("--as", dest="reviewer", help="who decides (default HANDRAIL_REVIEWER)")
        change.add_argument("--why", required=True, help="the reason, for the audit log")
        change.add_argument(
            "--write-file",
            action="store_true",
            help="also write the level into the profile file (comments kept), e.g. to commit "
            "it; the state database stays the truth",
        )
        change.set_defaults(handler=handler)

    export = commands.add_parser(
        "export", help="recorded decisions as JSONL training data (docs/training-data.md)"
    )
    export.add_argument("--out", type=Path, required=True, help="the .jsonl file to write")
    export.add_argument(
        "--since", type=_since, help="only tasks finished since (ISO date/time, or 7d, 12h, 30m)"
    )
    export.set_defaults(handler=cmd_export)
