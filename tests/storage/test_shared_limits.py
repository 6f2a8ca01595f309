"""Money limits across tasks (``shared_limit``): the rule as a profile states it, reservations in
the state store on both backends, and real tasks on a real worker racing for one order."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr, ValidationError
from sqlalchemy import Connection, func, select
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.tools import STORE_TOOL_SPECS
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import SharedLimit, ToolRule, Trace
from handrail.errors import InvalidProfileError
from handrail.plugin import profile_problems
from handrail.profiles.catalog import ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.storage.engine import StateDatabase
from handrail.storage.limits import SharedLimits, describe_window
from handrail.storage.schema import limit_reservations
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from handrail.tools.registry import ToolRegistry
from tests.profile_copies import REFUND_SHARED_LIMIT, store_profiles
from tests.review_helpers import PROFILE, WHY, answer, refund
from tests.workflows.test_rollback import FailAt

RULE = """
[rules.issue_refund]
autonomy = "supervised"
min_confidence = 0.8
review_above = 50
deny_above = 500
task_limit = 200
shared_limit = 100
shared_limit_per = "order_id"
shared_limit_window = "P1D"
"""
PER_ORDER = SharedLimit(limit=Decimal(100), window=timedelta(days=1), per="order_id")

# --- the rule as a profile states it ----------------------------------------------------------


def _profiles_with(tmp_path: Path, rule: str) -> Path:
    packaged = (
        '[rules.issue_refund]\nautonomy = "supervised"\nmin_confidence = 0.8\n'
        "review_above = 50\ndeny_above = 500\ntask_limit = 200\n"
        + REFUND_SHARED_LIMIT  # the bundled default (issue 19), replaced by the rule under test
    )
    return store_profiles(tmp_path, (packaged, rule.lstrip()))


def test_a_profile_states_a_shared_limit_per_order_and_window(tmp_path: Path) -> None:
    rule = ProfileCatalog(_profiles_with(tmp_path, RULE)).load(PROFILE).rules["issue_refund"]
    assert rule.shared_limit == Decimal(100)
    assert rule.shared_limit_per == "order_id"
    assert rule.shared_limit_window == timedelta(days=1)


def test_a_shared_limit_without_a_scope_is_one_scope_for_the_tool() -> None:
    rule = ToolRule.model_validate({"shared_limit": "250.50", "shared_limit_window": "PT12H"})
    assert rule.shared_limit == Decimal("250.50")
    assert rule.shared_limit_per is None
    assert rule.shared_limit_window == timedelta(hours=12)
    assert ToolRule().shared_limit is None  # no rule: no limit across tasks


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"shared_limit": 100}, "needs a shared_limit_window"),
        ({"shared_limit_per": "order_id"}, "need a shared_limit"),
        ({"shared_limit_window": "P1D"}, "need a shared_limit"),
        ({"shared_limit": -1, "shared_limit_window": "P1D"}, "greater than or equal to 0"),
        ({"shared_limit": 1, "shared_limit_window": "PT0S"}, "greater than 0"),
    ],
)
def test_an_incomplete_shared_limit_is_refused(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ToolRule.model_validate(fields)


def test_a_typo_in_a_shared_limit_names_the_file(tmp_path: Path) -> None:
    profiles = _profiles_with(tmp_path, RULE.replace("shared_limit_per", "shared_limit_by"))
    with pytest.raises(InvalidProfileError, match="shared_limit_by"):
        ProfileCatalog(profiles).load(PROFILE)


LIMIT_KEYS = 'shared_limit = 1\nshared_limit_window = "P1D"\n'


@pytest.mark.parametrize(
    ("table", "keys", "problem"),
    [
        ("[rules.issue_refund]", "", None),
        ("[rules.issue_refund]", 'shared_limit_per = "order"\n', "names no argument"),
        ("[rules.get_order]", LIMIT_KEYS, "enforced for declared actions only"),
        ("[rules.send_email]", LIMIT_KEYS, "needs a tool with an amount_field"),
    ],
)
def test_a_shared_limit_that_cannot_be_enforced_stops_the_worker(
    tmp_path: Path, table: str, keys: str, problem: str | None
) -> None:
    rule = RULE.replace('shared_limit_per = "order_id"\n', "") if 'order"' in keys else RULE
    profiles = _profiles_with(tmp_path, rule)
    path = profiles / "store_actions.toml"
    path.write_text(path.read_text().replace(f"{table}\n", f"{table}\n{keys}", 1))
    registry = ToolRegistry(STORE_TOOL_SPECS)  # specs only: compensations are not the point
    problems = [p for p in profile_problems(ProfileCatalog(profiles), registry) if "shared" in p]
    if problem is None:
        assert problems == []
    else:
        [found] = problems
        assert found.startswith(f"profile 'store_actions': {table[1:-1]}: ")
        assert problem in found


def test_windows_read_as_a_person_says_them() -> None:
    assert describe_window(timedelta(days=1)) == "1 day"
    assert describe_window(timedelta(days=2, hours=6)) == "2 days 6 hours"
    assert describe_window(timedelta(minutes=30)) == "30 minutes"


# --- reservations in the state store, both backends -------------------------------------------


@pytest_asyncio.fixture
async def limits(state_url: str) -> AsyncIterator[SharedLimits]:
    opened = SharedLimits(StateDatabase(state_url))
    try:
        yield opened
    finally:
        await opened.aclose()


async def _reserve(limits: SharedLimits, key: str, amount: str, scope: str = "1003") -> bool:
    reservation = await limits.reserve(
        PER_ORDER,
        tool="issue_refund",
        scope=scope,
        amount=Decimal(amount),
        idempotency_key=key,
        task_id=key.split("/")[0],
    )
    return reservation.granted


async def test_concurrent_reservations_never_pass_the_limit(limits: SharedLimits) -> None:
    granted = await asyncio.gather(*(_reserve(limits, f"t{n}/r/0", "30.00") for n in range(10)))
    assert sum(granted) == 3  # 90.00 of 100; a fourth would make 120.00
    assert await _reserve(limits, "other/r/0", "100", scope="1001")  # another order: its own


async def test_a_refusal_says_how_far_over_it_would_go(limits: SharedLimits) -> None:
    assert await _reserve(limits, "a/r/0", "100.00")
    refused = await limits.reserve(
        PER_ORDER,
        tool="issue_refund",
        scope="1003",
        amount=Decimal("80.00"),
        idempotency_key="b/r/0",
        task_id="b",
    )
    assert not refused.granted
    assert refused.reason == (
        "issue_refund: 80.00 would bring order 1003's refunds in the last 1 day to 180.00, "
        "above the shared limit of 100"
    )


async def test_a_retry_reuses_its_reservation(limits: SharedLimits) -> None:
    assert await _reserve(limits, "a/r/0", "60.00")
    assert await _reserve(limits, "a/r/0", "60.00")  # the same action again: not 120.00
    assert await _reserve(limits, "b/r/0", "40.00")
    assert await _count(limits, "issue_refund") == 2


async def test_a_release_makes_the_amount_available_again(limits: SharedLimits) -> None:
    assert await _reserve(limits, "a/r/0", "90.00")
    assert not await _reserve(limits, "b/r/0", "20.00")
    assert await limits.release("a/r/0")
    assert not await limits.release("a/r/0")  # idempotent: nothing live left to release
    assert await _reserve(limits, "b/r/0", "20.00")


async def test_reservations_older_than_the_window_do_not_count(limits: SharedLimits) -> None:
    old = datetime.now(UTC) - timedelta(days=1, minutes=1)
    assert await limits.reserve(
        PER_ORDER,
        tool="issue_refund",
        scope="1003",
        amount=Decimal("100.00"),
        idempotency_key="yesterday/r/0",
        task_id="yesterday",
        now=old,
    )
    assert await _reserve(limits, "today/r/0", "100.00")
    assert not await _reserve(limits, "later/r/0", "0.01")  # today's does count


async def _count(limits: SharedLimits, tool: str) -> int:
    def work(connection: Connection) -> int:
        query = select(func.count()).where(limit_reservations.c.tool == tool)
        return int(connection.execute(query).scalar_one())

    return await limits.database.run(work)


# --- real tasks on a real worker --------------------------------------------------------------


@pytest.fixture
def limited(settings: HandrailSettings, state_url: str, tmp_path: Path) -> HandrailSettings:
    """The store agent with a shared limit of 100 per order per day, on each state backend."""
    create_store(store_db_path(settings))
    return settings.model_copy(
        update={"profiles_dir": _profiles_with(tmp_path, RULE), "state_url": SecretStr(state_url)}
    )


async def _tasks(
    client: Client,
    settings: HandrailSettings,
    server: ScriptedModelServer,
    replies: Sequence[Reply],
    *,
    count: int = 1,
    faults: FailAt | None = None,
) -> list[Trace]:
    server.brain = Scenario(replies)
    handrail = HandrailClient(client, settings)
    options: dict[str, Any] = {"faults": faults} if faults else {}
    async with running_worker(client, settings, **options):
        handles = await asyncio.gather(
            *(
                handrail.start_task({"goal": f"Refund {n}", "profile": PROFILE})
                for n in range(count)
            )
        )
        await asyncio.gather(*(handrail.get_result(handle.id) for handle in handles))
        return [await handrail.get_trace(handle.id) for handle in handles]


def _refunded(settings: HandrailSettings) -> list[tuple[str, int]]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return db.execute(
            "SELECT task_id, amount_cents FROM refunds WHERE order_id = 1003"
        ).fetchall()


async def test_concurrent_tasks_together_stay_within_the_shared_limit(
    client: Client, limited: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    # Each 45.00 is under the review threshold and the per-task limit: only the shared one bites.
    traces = await _tasks(client, limited, model_server, [refund(1003, "45.00"), answer()], count=5)
    refunds = _refunded(limited)
    assert len(refunds) == 2
    assert sum(cents for _, cents in refunds) <= 10_000
    refused = [t for t in traces if t.steps[0].outcome is not None and not t.steps[0].outcome.ok]
    assert len(refused) == 3
    for trace in refused:
        outcome = trace.steps[0].outcome
        assert outcome is not None
        assert outcome.error == (
            "issue_refund: 45.00 would bring order 1003's refunds in the last 1 day to 135.00, "
            "above the shared limit of 100"
        )
        assert "above the shared limit of 100" in trace.steps[0].note
    assert {t.task_id for t in traces} - {t.task_id for t in refused} == {
        task_id for task_id, _ in refunds
    }


async def test_a_rolled_back_task_frees_its_amount_for_the_next(
    client: Client, limited: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    # Two refunds of 45.00 (each under the review threshold), then the task escalates.
    escalate = ToolCallReply("escalate", {"reason": "needs a manager", **WHY})
    two = [refund(1003, "45.00"), refund(1003, "45.00"), escalate]
    [first] = await _tasks(client, limited, model_server, two)
    assert [c.status for c in first.compensations] == ["undone", "undone"]
    assert _refunded(limited) == []
    again = [refund(1003, "45.00"), refund(1003, "45.00"), answer()]
    [second] = await _tasks(client, limited, model_server, again)
    assert [s.outcome.ok for s in second.steps if s.outcome is not None] == [True, True]
    assert _refunded(limited) == [(second.task_id, 4500), (second.task_id, 4500)]


async def test_a_retried_action_takes_one_reservation(
    client: Client, limited: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    # The refund takes effect, then the attempt fails before the journal: Temporal retries it.
    fault = FailAt("before_commit", "issue_refund", 0, retryable=True)
    [trace] = await _tasks(
        client, limited, model_server, [refund(1003, "45.00"), answer()], faults=fault
    )
    assert fault.fired == 1
    assert trace.steps[0].outcome is not None
    assert trace.steps[0].outcome.ok
    limits = SharedLimits(StateDatabase(limited.state_database_url))
    try:
        assert await _count(limits, "issue_refund") == 1
        # 45.00 is held once: 55.00 more fits, 55.01 would not.
        assert not await _reserve(limits, "probe/r/0", "55.01")
        assert await _reserve(limits, "probe/r/1", "55.00")
    finally:
        await limits.aclose()
