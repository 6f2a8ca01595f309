"""The HTTP gateway over real HTTP: uvicorn on a free loopback port, in front of the session's
dev server and a worker; a service starts tasks, reviewers decide with their own tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import pytest_asyncio
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.tools import STORE_TOOL_SPECS
from handrail.client.core import HandrailClient
from handrail.http import create_app, running_server, token_hash
from handrail.settings import HandrailSettings

REFUND_GOAL = "Please refund 80.00 USD on order 1003 for the broken stove."
# alice and bob review tier "support", carol "managers" (store_actions.toml); dave is a known
# reviewer of this gateway whom the profile does not list.
TOKENS = {name: f"hrt_test_{name}_token" for name in ("alice", "bob", "carol", "dave")}
SERVICE_TOKEN = "hrt_test_billing_token"
# billing and shipping read the tasks they started; ops reads every task (HANDRAIL_API_READ_ALL).
SERVICE_TOKENS = {
    "billing": SERVICE_TOKEN,
    "shipping": "hrt_test_shipping_token",
    "ops": "hrt_test_ops_token",
}


def gateway_settings(settings: HandrailSettings) -> HandrailSettings:
    return settings.model_copy(
        update={
            "reviewer_tokens": {name: token_hash(token) for name, token in TOKENS.items()},
            "api_tokens": {name: token_hash(token) for name, token in SERVICE_TOKENS.items()},
            "api_read_all": ["ops"],
        }
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    url: str
    http: httpx2.AsyncClient
    handrail: HandrailClient

    async def start(self, goal: str = REFUND_GOAL, **headers: str) -> httpx2.Response:
        return await self.http.post(
            "/tasks",
            json={"goal": goal, "profile": "store_actions"},
            headers={**bearer(SERVICE_TOKEN), **headers},
        )

    async def review(self, task_id: str, who: str, **body: Any) -> httpx2.Response:
        return await self.http.post(f"/reviews/{task_id}", json=body, headers=bearer(TOKENS[who]))

    async def wait_pending(self, task_id: str, timeout: float = 15) -> dict[str, Any]:
        """The task's row in GET /reviews once the visibility store shows it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            response = await self.http.get("/reviews", headers=bearer(TOKENS["alice"]))
            assert response.status_code == 200, response.text
            for row in response.json():
                if row["task_id"] == task_id:
                    return dict(row)
            await asyncio.sleep(0.05)
        raise AssertionError(f"{task_id} never showed in GET /reviews")

    async def wait_done(self, task_id: str, timeout: float = 15) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            response = await self.http.get(f"/tasks/{task_id}", headers=bearer(SERVICE_TOKEN))
            assert response.status_code == 200, response.text
            if response.json()["done"]:
                return dict(response.json())
            await asyncio.sleep(0.05)
        raise AssertionError(f"{task_id} did not finish")


@asynccontextmanager
async def serve_gateway(
    client: Client, settings: HandrailSettings, *, review_timeout: float | None = None
) -> AsyncIterator[Api]:
    """The gateway on a free loopback port, scoped to the test's task queue (the `worker`
    fixture's), with an HTTP client for it; ``review_timeout``: seconds a decision may wait
    for the task before the answer is 504 (the gateway's default: 30)."""
    create_store(store_db_path(settings))
    handrail = HandrailClient(client, gateway_settings(settings))
    app = create_app(handrail, tools=STORE_TOOL_SPECS, task_queue=settings.task_queue)
    if review_timeout is not None:
        app.state.gateway.review_timeout = review_timeout
    async with (
        running_server(app) as url,
        httpx2.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield Api(url, http, handrail)


@pytest_asyncio.fixture
async def api(client: Client, settings: HandrailSettings) -> AsyncIterator[Api]:
    async with serve_gateway(client, settings) as served:
        yield served


def error_of(response: httpx2.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


@pytest.mark.usefixtures("worker")
async def test_a_service_starts_a_task_and_reads_its_result(api: Api) -> None:
    started = await api.start("How much is the Headlamp?")
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["started"] is True
    assert body["links"]["self"] == f"/tasks/{body['task_id']}"
    done = await api.wait_done(body["task_id"])
    assert done["status"] == "answered"
    assert "Headlamp" in done["answer"]
    trace = await api.http.get(body["links"]["trace"], headers=bearer(SERVICE_TOKEN))
    assert trace.status_code == 200
    assert trace.json()["steps"][0]["decision"]["tool"] == "lookup_price"


@pytest.mark.usefixtures("worker")
async def test_a_retried_start_with_the_same_key_starts_one_task(
    api: Api, client: Client, settings: HandrailSettings
) -> None:
    first = await api.start("How much is the Rain Jacket?", **{"Idempotency-Key": "order-77"})
    again = await api.start("How much is the Rain Jacket?", **{"Idempotency-Key": "order-77"})
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    task_id = first.json()["task_id"]
    assert again.json() == {**first.json(), "started": False}
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{task_id}'")]
    assert len(runs) == 1
    # The same key with another task is a mistake, not a retry: refused, nothing started.
    other = await api.start("How much is the Headlamp?", **{"Idempotency-Key": "order-77"})
    assert other.status_code == 422
    assert error_of(other)["type"] == "IdempotencyKeyReused"
    assert (await api.wait_done(task_id))["status"] == "answered"


async def test_starting_needs_a_service_token(api: Api) -> None:
    missing = await api.http.post("/tasks", json={"goal": "hi"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await api.http.post("/tasks", json={"goal": "hi"}, headers=bearer("hrt_nope"))
    assert wrong.status_code == 401
    assert "invalid_token" in wrong.headers["www-authenticate"]
    as_reviewer = await api.http.post(
        "/tasks", json={"goal": "hi"}, headers=bearer(TOKENS["alice"])
    )
    assert as_reviewer.status_code == 403
    assert "only a service token may start tasks" in error_of(as_reviewer)["message"]


async def test_a_malformed_task_is_refused_naming_the_field(api: Api) -> None:
    headers = bearer(SERVICE_TOKEN)
    blank = await api.http.post("/tasks", json={"goal": "   "}, headers=headers)
    assert blank.status_code == 422
    assert error_of(blank)["message"].startswith("invalid request: goal:")
    typo = await api.http.post("/tasks", json={"goal": "x", "profil": "a"}, headers=headers)
    assert typo.status_code == 422
    assert "profil" in error_of(typo)["message"]
    unknown = await api.http.post("/tasks", json={"goal": "x", "profile": "nope"}, headers=headers)
    assert unknown.status_code == 422
    assert error_of(unknown)["type"] == "UnknownProfile"
    not_json = await api.http.post(
        "/tasks", content=b"{", headers={**headers, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert error_of(not_json)["type"] == "InvalidRequest"


@pytest.mark.usefixtures("worker")
async def test_a_reviewer_lists_and_approves_a_pending_refund(api: Api) -> None:
    task_id = (await api.start()).json()["task_id"]
    row = await api.wait_pending(task_id)
    assert (row["tool"], row["tier"], row["amount"]) == ("issue_refund", "support", "80.00")
    assert row["arguments"]["order_id"] == 1003
    assert row["reviewers"] == ["alice", "bob", "carol"]  # a higher tier may decide

    async def listed(query: str) -> set[str]:
        response = await api.http.get(f"/reviews?{query}", headers=bearer(TOKENS["bob"]))
        assert response.status_code == 200, response.text
        return {item["task_id"] for item in response.json()}

    assert task_id in await listed("tool=issue_refund&tier=support")
    assert task_id not in await listed("tool=send_email")
    assert task_id not in await listed("tier=managers")

    approved = await api.review(task_id, "alice", step=row["step"], verdict="approve")
    assert approved.status_code == 200, approved.text
    assert approved.json() == {
        "task_id": task_id,
        "step": row["step"],
        "verdict": "approve",
        "tier": "support",
        "reviewer": "alice",
    }
    # The same decision again: someone (alice herself) decided first.
    again = await api.review(task_id, "bob", step=row["step"], verdict="approve")
    assert again.status_code == 409, again.text
    assert error_of(again)["type"] in {"ReviewStale", "TaskNotRunning"}
    done = await api.wait_done(task_id)
    assert done["status"] == "answered"
    [step] = [s for s in done["result"]["steps"] if s.get("review")]
    assert step["review"]["reviewer"] == "alice"  # from the token, not from any body


@pytest.mark.usefixtures("worker")
async def test_refused_decisions_say_why(api: Api) -> None:
    task_id = (await api.start()).json()["task_id"]
    step = (await api.wait_pending(task_id))["step"]

    stale = await api.review(task_id, "alice", step=step + 5, verdict="approve")
    assert stale.status_code == 409
    assert error_of(stale)["type"] == "ReviewStale"

    outsider = await api.review(task_id, "dave", step=step, verdict="approve")
    assert outsider.status_code == 403
    assert error_of(outsider)["type"] == "ReviewUnauthorised"
    assert "dave" in error_of(outsider)["message"]

    service = await api.http.post(
        f"/reviews/{task_id}",
        json={"step": step, "verdict": "approve"},
        headers=bearer(SERVICE_TOKEN),
    )
    assert service.status_code == 403
    missing = await api.http.post(f"/reviews/{task_id}", json={"step": step, "verdict": "approve"})
    assert missing.status_code == 401

    claimed = await api.review(task_id, "dave", step=step, verdict="approve", reviewer="alice")
    assert claimed.status_code == 422
    assert error_of(claimed)["message"].startswith("invalid request: reviewer: not accepted")

    malformed = await api.review(task_id, "alice", step=step, verdict="maybe")
    assert malformed.status_code == 422
    assert "verdict:" in error_of(malformed)["message"]
    no_step = await api.review(task_id, "alice", verdict="approve")
    assert "step: Field required" in error_of(no_step)["message"]

    bad_edit = await api.review(
        task_id, "alice", step=step, verdict="edit", arguments={"order_id": "x"}
    )
    assert bad_edit.status_code == 422
    assert error_of(bad_edit)["type"] == "ReviewInvalidEdit"

    # carol (managers) may decide the support tier's step; the task rolls back on reject.
    rejected = await api.review(task_id, "carol", step=step, verdict="reject", comment="no")
    assert rejected.status_code == 200, rejected.text
    assert (await api.wait_done(task_id))["status"] == "rejected"
    ended = await api.review(task_id, "alice", step=step, verdict="approve")
    assert ended.status_code == 409
    assert error_of(ended)["type"] == "TaskNotRunning"


async def test_an_unknown_task_is_404(api: Api) -> None:
    for path in ("/tasks/task-nope", "/tasks/task-nope/trace"):
        response = await api.http.get(path, headers=bearer(SERVICE_TOKEN))
        assert response.status_code == 404
        assert error_of(response)["type"] == "UnknownTask"
    review = await api.review("task-nope", "alice", step=1, verdict="approve")
    assert review.status_code == 404
    nothing = await api.http.get("/nowhere")
    assert nothing.status_code == 404
    assert error_of(nothing)["type"] == "NotFound"
