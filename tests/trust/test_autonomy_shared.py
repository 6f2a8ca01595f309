"""One truth for autonomy (issue 15): levels live in the state database that every worker host
reads, not in one host's profile file.

- a demotion made on one worker host gates the next task on another (two data folders, one
  state URL: stop worker 1, start worker 2), on SQLite and PostgreSQL, on a real dev server;
- changes at once take turns: none is lost, and each audit entry starts where the last ended;
- the audit entry and the level are one transaction: a failure writing the level leaves no
  entry, and a refused change leaves neither.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import Autonomy
from handrail.profiles.catalog import ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.storage.autonomy_levels import AutonomyLevels
from handrail.storage.autonomy_log import AutonomyLog
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from handrail.trust.autonomy import Direction, read_log
from handrail.trust.promotion import apply_change
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending

CATALOG = ProfileCatalog(STORE_PROFILES)


def _host(settings: HandrailSettings, state_url: str, name: str) -> HandrailSettings:
    """A worker host: its own data folder (store, files), the shared state database."""
    host = settings.model_copy(
        update={"data_dir": settings.data_dir / name, "state_url": SecretStr(state_url)}
    )
    create_store(store_db_path(host))
    return host


async def test_a_level_changed_on_one_host_gates_the_next_task_on_another(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, state_url: str
) -> None:
    first, second = _host(settings, state_url, "host-1"), _host(settings, state_url, "host-2")
    handrail = HandrailClient(client, first)

    async with running_worker(client, first):
        model_server.brain = Scenario([refund(1001, "10.00"), answer()])
        before = await handrail.get_result(
            (await handrail.start_task({"goal": "g", "profile": PROFILE})).id
        )
        assert before.steps[0].gate is not None
        assert before.steps[0].gate.action == "auto"  # supervised, confident, small
        # On host 1, with host 1's profile folders: the file there stays as it was.
        apply_change(
            CATALOG,
            PROFILE,
            "issue_refund",
            "demote",
            "carol",
            "audit season",
            log=AutonomyLog(first.state_database_url),
        )

    async with running_worker(client, second):  # host 2 now serves the task queue alone
        model_server.brain = Scenario([refund(1001, "10.00"), answer()])
        handle = await handrail.start_task({"goal": "g", "profile": PROFILE})
        pending = await wait_for_pending(handrail, handle.id)
        # The level in force shows in the trace: the gate names it.
        assert pending.reason == "issue_refund is at autonomy 'suggest'"
        await handrail.review(handle.id, {"reviewer": "alice", "step": 1, "verdict": "approve"})
        after = await handrail.get_result(handle.id)
    assert after.steps[0].gate is not None
    assert after.steps[0].gate.action == "review"
    assert CATALOG.load(PROFILE).rules["issue_refund"].autonomy == "supervised"  # file untouched


def _change(log: AutonomyLog, tool: str, direction: Direction, who: str) -> None:
    apply_change(CATALOG, PROFILE, tool, direction, who, "at once", log=log)


def _at_once(state_url: str, moves: list[tuple[str, Direction]]) -> list[BaseException]:
    """Each move in its own thread, with its own store objects (as separate processes would
    have), released together."""
    start = threading.Barrier(len(moves))
    failures: list[BaseException] = []

    def move(tool: str, direction: Direction, who: str) -> None:
        log = AutonomyLog(state_url)
        log.database.upgrade()  # migrations before the barrier: the race is the change
        start.wait()
        try:
            _change(log, tool, direction, who)
        except BaseException as error:  # reported to the test, not lost in the thread
            failures.append(error)

    threads = [
        threading.Thread(target=move, args=(tool, direction, f"op-{number}"))
        for number, (tool, direction) in enumerate(moves)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def _chain(state_url: str, tool: str) -> list[tuple[Autonomy, Autonomy]]:
    return [(c.from_level, c.to_level) for c in read_log(AutonomyLog(state_url)) if c.tool == tool]


def test_changes_at_once_take_turns_and_none_is_lost(state_url: str) -> None:
    log = AutonomyLog(state_url)
    _change(log, "issue_refund", "demote", "setup")  # supervised -> suggest
    failures = _at_once(state_url, [("issue_refund", "promote")] * 2)
    assert failures == []
    level = AutonomyLevels(state_url).current(PROFILE)["issue_refund"]
    # Both promotions counted: suggest -> supervised -> autonomous, three changes in all.
    assert (level.autonomy, level.version) == ("autonomous", 3)
    assert _chain(state_url, "issue_refund") == [
        ("supervised", "suggest"),
        ("suggest", "supervised"),
        ("supervised", "autonomous"),
    ]
    assert level.change_id == max(entry.id for entry in log.entries())

    # A third promotion at once with a demotion: whichever goes first, each reads what the
    # other wrote, and every entry starts where the previous one ended.
    failures = _at_once(state_url, [("apply_discount", "promote"), ("apply_discount", "demote")])
    assert failures == []
    chain = _chain(state_url, "apply_discount")
    assert len(chain) == 2
    assert chain[0][1] == chain[1][0]
    assert AutonomyLevels(state_url).current(PROFILE)["apply_discount"].autonomy == "supervised"


def test_the_audit_entry_and_the_level_are_one_transaction(state_url: str) -> None:
    log = AutonomyLog(state_url)
    levels = AutonomyLevels(log.database)
    engine = log.database.sync_engine

    def fail_on_level(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "autonomy_levels" in statement and not statement.lstrip().upper().startswith("SELECT"):
            raise RuntimeError("the database went away while writing the level")

    event.listen(engine, "before_cursor_execute", fail_on_level)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            _change(log, "issue_refund", "demote", "carol")
    finally:
        event.remove(engine, "before_cursor_execute", fail_on_level)
    assert log.entries() == []  # the entry was inserted first, and rolled back with the level
    assert levels.current(PROFILE) == {}

    # A refused change (past the top) writes neither.
    with pytest.raises(Exception, match="already 'autonomous'"):
        _change(log, "send_email", "promote", "carol")
    assert (log.entries(), levels.current(PROFILE)) == ([], {})

    _change(log, "issue_refund", "demote", "carol")
    [entry] = log.entries()
    assert levels.current(PROFILE)["issue_refund"].change_id == entry.id


def test_a_stale_expectation_is_refused(state_url: str) -> None:
    """An operator acting on what they saw (``expected``) learns someone moved it first."""
    log = AutonomyLog(state_url)
    _change(log, "issue_refund", "demote", "dave")
    with pytest.raises(Exception, match="now 'suggest', not 'supervised'"):
        apply_change(
            CATALOG, PROFILE, "issue_refund", "demote", "carol", "x", log=log, expected="supervised"
        )
    assert len(log.entries()) == 1
