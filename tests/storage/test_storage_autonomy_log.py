"""The autonomy audit log on both backends (SQLite file, PostgreSQL): entries written and read
back in the order applied, a promotion recorded and read as a change, and an old
``autonomy_log.jsonl`` imported exactly once (renamed ``.imported``), even by two processes."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from examples.store.settings import PROFILES as STORE_PROFILES
from handrail.storage.autonomy_log import AuditEntryError, AutonomyLog
from handrail.storage.engine import StateDatabase
from handrail.storage.schema import autonomy_changes
from handrail.trust.autonomy import AutonomyChange, last_changes, read_log
from handrail.trust.promotion import apply_change

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _entry(profile: str, tool: str, at: datetime, who: str = "carol") -> dict[str, object]:
    return {
        "at": at.isoformat(),
        "who": who,
        "why": "because",
        "profile": profile,
        "tool": tool,
        "direction": "demote",
        "from": "supervised",
        "to": "suggest",
        "evidence": None,
        "recommended": None,
        "file": f"profiles/{profile}.toml",
    }


def test_entries_are_written_and_read_back_in_order(state_url: str) -> None:
    log = AutonomyLog(state_url)
    assert log.entries() == []
    first = _entry("store_actions", "issue_refund", T0)
    # Another zone: stored as UTC, so text order is time order on both databases.
    later = T0.astimezone(timezone(timedelta(hours=2))) + timedelta(minutes=5)
    second = _entry("store_actions", "send_email", later, who="dave")
    third = _entry("helpdesk", "issue_refund", T0 + timedelta(hours=1))
    stored = [log.append(first), log.append(second), log.append(third)]
    assert stored[1].at == "2025-03-01T12:05:00.000000Z"

    again = AutonomyLog(state_url)  # another process
    entries = again.entries()
    assert entries == stored
    assert [entry.data() for entry in entries] == [first, second, third]
    assert [e.tool for e in again.entries(profile="store_actions")] == [
        "issue_refund",
        "send_email",
    ]
    assert [e.profile for e in again.entries(tool="issue_refund")] == ["store_actions", "helpdesk"]
    assert again.entries(profile="helpdesk", tool="send_email") == []
    with pytest.raises(AuditEntryError):
        log.append({"profile": "p", "tool": "t"})  # no time: refused, nothing stored
    assert len(log.entries()) == 3


def test_a_change_is_recorded_and_read_as_a_change(state_url: str, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles, ignore=shutil.ignore_patterns("*.py"))
    log = AutonomyLog(state_url)
    change = apply_change(
        profiles, "store_actions", "issue_refund", "demote", "carol", "audit", log=log, now=T0
    )
    assert read_log(AutonomyLog(state_url)) == [change]
    assert last_changes(log) == {("store_actions", "issue_refund"): T0}
    assert read_log(log, profile="store_support") == []
    # A damaged entry is skipped (and logged), not hiding the others.
    with StateDatabase(state_url).sync_engine.begin() as db:
        db.execute(
            autonomy_changes.insert(),
            {"at": "2025-03-02T00:00:00.000000Z", "profile": "p", "tool": "t", "payload": "{}"},
        )
    assert read_log(log) == [change]


def _write_legacy(path: Path) -> list[AutonomyChange]:
    changes = [
        AutonomyChange.model_validate(_entry("store_actions", "issue_refund", T0)),
        AutonomyChange.model_validate(
            _entry("store_actions", "issue_refund", T0 + timedelta(days=1))
        ),
    ]
    lines = [json.dumps(c.model_dump(mode="json", by_alias=True)) for c in changes]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{lines[0]}\nnot json\n\n{lines[1]}\n", encoding="utf-8")
    return changes


def test_an_old_log_file_is_imported_once(state_url: str, tmp_path: Path) -> None:
    legacy = tmp_path / "data" / "autonomy_log.jsonl"
    changes = _write_legacy(legacy)
    log = AutonomyLog(state_url, legacy_file=legacy)
    assert read_log(log) == changes  # the damaged line is left out (and logged)
    assert not legacy.exists()
    imported = legacy.with_name("autonomy_log.jsonl.imported")
    assert "not json" in imported.read_text(encoding="utf-8")  # kept, renamed
    # The next process finds no file: nothing imported twice, and new entries go after.
    again = AutonomyLog(state_url, legacy_file=legacy)
    again.append(_entry("store_actions", "send_email", T0 + timedelta(days=2)))
    assert [c.tool for c in read_log(again)] == ["issue_refund", "issue_refund", "send_email"]
    assert last_changes(again)[("store_actions", "issue_refund")] == T0 + timedelta(days=1)
    assert again.import_legacy() == 0


def test_two_processes_import_an_old_log_once(state_url: str, tmp_path: Path) -> None:
    legacy = tmp_path / "data" / "autonomy_log.jsonl"
    changes = _write_legacy(legacy)
    StateDatabase(state_url).upgrade()
    logs = [AutonomyLog(state_url, legacy_file=legacy) for _ in range(4)]
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda log=log: counts.append(log.import_legacy())) for log in logs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 0, 0, 2]
    assert read_log(AutonomyLog(state_url)) == changes
