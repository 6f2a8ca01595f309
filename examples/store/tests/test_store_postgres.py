"""The store example on either database (``HANDRAIL_STORE_URL``): the same tools, the same
exactly-once and balance guarantees, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from examples.store.database import (
    StoreDatabase,
    create_store,
    effect_counts,
    snapshot,
    store_effects,
)
from examples.store.settings import StoreSettings, store_db_path
from examples.store.tests.helpers import PROFILE, answer, refund
from examples.store.tools import IssueRefundArgs, LookupPriceArgs, store_tools
from examples.store.worker import running_worker
from handrail import ToolContext, ToolRefused
from handrail.client.core import HandrailClient
from handrail.errors import ConfigurationError
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from handrail.tools.declare import ToolFunction


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _tool(db: StoreDatabase, name: str) -> ToolFunction:
    return next(t for t in store_tools(db) if t.name == name).function


def _ctx(key: str) -> ToolContext:
    return ToolContext(task_id="t", step=0, idempotency_key=key, attempt=1)


async def test_create_store_is_idempotent_and_lookups_ignore_case(store_url: str) -> None:
    create_store(store_url)
    create_store(store_url)  # a second worker starting: nothing doubles
    db = StoreDatabase(store_url)
    try:
        lookup = _tool(db, "lookup_price")
        assert (await lookup(LookupPriceArgs(product="headLAMP"), _ctx("k")))["price"] == "24.00"
        # LIKE fallback, with the wildcard escaped: "50%" matches nothing, "tent" one product
        assert (await lookup(LookupPriceArgs(product="tent"), _ctx("k")))["sku"] == "TENT-2P"
        with pytest.raises(ToolRefused, match="no product matches"):
            await lookup(LookupPriceArgs(product="50%"), _ctx("k"))
    finally:
        await db.aclose()
    assert len(snapshot(store_url)["products"]) == 8


async def test_concurrent_refunds_on_one_order_never_exceed_what_was_paid(store_url: str) -> None:
    # Order 1003 was paid 308.95 USD: five concurrent 100.00 refunds, each alone allowed, may
    # together refund at most three. The order's row lock (PostgreSQL) or the write lock
    # (SQLite) makes them take turns between reading the balance and writing the refund.
    create_store(store_url)
    db = StoreDatabase(store_url)
    try:
        issue = _tool(db, "issue_refund")
        args = IssueRefundArgs(order_id=1003, amount=Decimal("100.00"), reason="late")
        keys = [f"key-{n}" for n in range(5)]
        outcomes = await asyncio.gather(
            *(issue(args, _ctx(key)) for key in keys), return_exceptions=True
        )
        done = {key: o for key, o in zip(keys, outcomes, strict=True) if isinstance(o, dict)}
        retried = next(iter(done))
        again = await issue(args, _ctx(retried))  # a retry of a done call: its first result
    finally:
        await db.aclose()
    refused = [o for o in outcomes if isinstance(o, ToolRefused)]
    assert (len(done), len(refused)) == (3, 2), outcomes
    assert all("still open on order 1003" in str(r) for r in refused)
    assert again == done[retried]
    assert effect_counts(store_url)["refunds"] == 3


async def test_an_agent_on_a_postgres_store_refunds_once(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    postgres_url: str,
) -> None:
    on_postgres = settings.model_copy(update={"state_url": SecretStr(postgres_url)})
    store = StoreSettings(_env_file=None, store_url=SecretStr(postgres_url))
    create_store(store.target(on_postgres))
    model_server.brain = Scenario([refund(1001, "10.00"), answer("Refunded 10.00 EUR")])
    handrail = HandrailClient(client, on_postgres)
    async with running_worker(client, on_postgres, store=store):
        handle = await handrail.start_task({"goal": "Refund order 1001", "profile": PROFILE})
        result = await handrail.get_result(handle.id)

    assert result.status == "answered"
    assert store_effects(store.target(on_postgres), [handle.id])["refunds"] == [
        "order 1001: 10.00 EUR"
    ]
    assert not store_db_path(on_postgres).exists()  # nothing went to the default SQLite file


@pytest.mark.parametrize("url", ["data/store.db", "mysql://u@h/db", ""])
def test_a_store_url_that_is_no_sqlite_or_postgresql_url_is_named(url: str) -> None:
    with pytest.raises(ConfigurationError, match="HANDRAIL_STORE_URL"):
        StoreDatabase(url)
