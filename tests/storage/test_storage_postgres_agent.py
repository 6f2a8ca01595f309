"""End to end on PostgreSQL: a real worker whose state URL points at PostgreSQL runs a refund,
escalates, rolls back; the effect journal's rows (and the conversation) are read back from
PostgreSQL itself."""

from __future__ import annotations

import psycopg
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from temporalio.client import Client

from examples.store.database import create_store, snapshot
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.review_helpers import PROFILE, WHY, refund


async def test_a_refund_rolled_back_is_journaled_in_postgres(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    postgres_url: str,
) -> None:
    on_postgres = settings.model_copy(update={"state_url": SecretStr(postgres_url)})
    create_store(store_db_path(on_postgres))
    before = snapshot(store_db_path(on_postgres))
    model_server.brain = Scenario(
        [refund(1001, "10.00"), ToolCallReply("escalate", {"reason": "a manager", **WHY})]
    )
    handrail = HandrailClient(client, on_postgres)
    async with running_worker(client, on_postgres):
        handle = await handrail.start_task({"goal": "Refund order 1001", "profile": PROFILE})
        await handrail.get_result(handle.id)
        trace = await handrail.get_trace(handle.id)

    assert trace.status == "escalated"
    assert [(c.tool, c.status) for c in trace.compensations] == [("issue_refund", "undone")]
    assert snapshot(store_db_path(on_postgres)) == before
    libpq = make_url(postgres_url).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False)) as db:
        rows = db.execute(
            "SELECT idempotency_key, tool, result IS NOT NULL, applied_at IS NOT NULL,"
            " compensation, compensated_at IS NOT NULL FROM effect_journal WHERE task_id = %s",
            (handle.id,),
        ).fetchall()
        (messages,) = db.execute(
            "SELECT COUNT(*) FROM conversation_messages WHERE conversation_id LIKE %s",
            (f"{handle.id}/%",),
        ).fetchone() or (0,)
    assert messages >= 3  # the system prompt, the goal, the model's replies
    assert len(rows) == 1
    key, tool, has_result, applied, compensation, compensated = rows[0]
    assert key.startswith(f"{handle.id}/")
    assert (tool, has_result, applied, compensation, compensated) == (
        "issue_refund",
        True,
        True,
        "void_refund",
        True,
    )
    assert not on_postgres.state_db_path.exists()  # nothing went to the default SQLite file
