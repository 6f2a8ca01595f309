"""Who sees what, over real HTTP: a service reads the tasks it started (the gateway records the
starter in the task's memo), every task only with HANDRAIL_API_READ_ALL; a task it may not read
is the same 404 as no task at all, also on a retried start. Reviewers read tasks, and their
lists (GET /reviews, the inbox) show only the steps their tier lets them decide."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from handrail.client.core import STARTER_MEMO, HandrailClient
from handrail.errors import ConfigurationError
from handrail.http import Principal, TokenBook, token_hash
from handrail.http.auth import COOKIE_NAME
from handrail.settings import HandrailSettings
from tests.http.test_http_api import SERVICE_TOKENS, TOKENS, Api, bearer, error_of, serve_gateway

pytestmark = pytest.mark.usefixtures("worker")


@pytest_asyncio.fixture
async def api(client: Client, settings: HandrailSettings) -> AsyncIterator[Api]:
    async with serve_gateway(client, settings) as served:
        yield served


def _as(name: str) -> dict[str, str]:
    return bearer(SERVICE_TOKENS.get(name) or TOKENS[name])


def _cookie(reviewer: str) -> dict[str, str]:
    """The inbox's login cookie, as a browser sends it."""
    return {"Cookie": f"{COOKIE_NAME}={TOKENS[reviewer]}"}


async def _readers(api: Api, task_id: str) -> dict[str, tuple[int, int]]:
    """Each caller's status on GET /tasks/{id} and GET /tasks/{id}/trace."""
    seen = {}
    for who in ("billing", "shipping", "ops", "alice", "dave"):
        task = await api.http.get(f"/tasks/{task_id}", headers=_as(who))
        trace = await api.http.get(f"/tasks/{task_id}/trace", headers=_as(who))
        seen[who] = (task.status_code, trace.status_code)
    return seen


async def _listed(api: Api, who: str) -> set[str]:
    response = await api.http.get("/reviews", headers=_as(who))
    assert response.status_code == 200, response.text
    return {row["task_id"] for row in response.json()}


async def test_a_service_reads_its_own_tasks_and_reviewers_list_what_they_may_decide(
    api: Api, client: Client
) -> None:
    task_id = (await api.start()).json()["task_id"]  # billing's refund, waiting for support
    await api.wait_pending(task_id)
    memo = await (await client.get_workflow_handle(task_id).describe()).memo()
    assert memo == {STARTER_MEMO: "billing"}  # from the token, not from the body

    assert await _readers(api, task_id) == {
        "billing": (200, 200),
        "shipping": (404, 404),  # another service's task
        "ops": (200, 200),  # HANDRAIL_API_READ_ALL
        "alice": (200, 200),  # reviewers read tasks
        "dave": (200, 200),
    }
    hidden = await api.http.get(f"/tasks/{task_id}", headers=_as("shipping"))
    unknown = await api.http.get("/tasks/task-nope", headers=_as("shipping"))
    # Not "forbidden": the same answer as for an id nobody uses, so nothing tells them apart.
    assert error_of(hidden) == {**error_of(unknown), "message": f"no task {task_id!r}"}
    assert error_of(unknown)["message"] == "no task 'task-nope'"

    # A start that names billing's task id is not a retry for shipping: 404, nothing changes.
    retried = await api.http.post(
        "/tasks",
        json={
            "goal": "Please refund 80.00 USD on order 1003 for the broken stove.",
            "profile": "store_actions",
            "task_id": task_id,
        },
        headers=_as("shipping"),
    )
    assert retried.status_code == 404, retried.text
    assert error_of(retried)["type"] == "UnknownTask"
    # The starter is the gateway's to record: a body cannot claim one.
    claimed = await api.http.post(
        "/tasks", json={"goal": "hi", "memo": {STARTER_MEMO: "shipping"}}, headers=_as("shipping")
    )
    assert claimed.status_code == 422

    assert task_id in await _listed(api, "billing")
    assert task_id in await _listed(api, "ops")
    assert task_id not in await _listed(api, "shipping")
    for reviewer in ("alice", "bob", "carol"):  # the support tier, and managers above it
        assert task_id in await _listed(api, reviewer)
    assert task_id not in await _listed(api, "dave")  # a reviewer the profile does not name

    async def inbox(who: str) -> str:
        response = await api.http.get("/inbox?fragment=1", headers=_cookie(who))
        assert response.status_code == 200, response.text
        return response.text

    assert task_id in await inbox("alice")
    assert task_id not in await inbox("dave")
    # dave may still open the task's page (reviewers read tasks) but not decide it.
    page = await api.http.get(f"/inbox/tasks/{task_id}", headers=_cookie("dave"))
    assert page.status_code == 200
    decided = await api.review(task_id, "dave", step=1, verdict="approve")
    assert decided.status_code == 403
    approved = await api.review(task_id, "alice", step=1, verdict="approve")
    assert approved.status_code == 200, approved.text


async def test_a_task_started_without_the_gateway_is_read_only_by_read_all_and_reviewers(
    api: Api, handrail: HandrailClient
) -> None:
    handle = await handrail.start_task({"goal": "How much is the Headlamp?"})  # SDK, no starter
    await handle.result()
    seen = await _readers(api, handle.id)
    assert seen["billing"] == seen["shipping"] == (404, 404)
    assert seen["ops"] == seen["alice"] == (200, 200)


def test_read_all_names_known_services(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = {"billing": token_hash("hrt_x"), "ops": token_hash("hrt_y")}
    monkeypatch.setenv("HANDRAIL_API_READ_ALL", '["ops"]')  # the environment's form
    grant = HandrailSettings(_env_file=None, api_tokens=tokens)
    book = TokenBook(grant.reviewer_tokens, grant.api_tokens, read_all=grant.api_read_all)
    assert book.identify("hrt_y") == Principal("ops", "service", read_all=True)
    assert book.identify("hrt_x") == Principal("billing", "service", read_all=False)
    monkeypatch.delenv("HANDRAIL_API_READ_ALL")
    assert HandrailSettings(_env_file=None).api_read_all == []
    with pytest.raises(ConfigurationError, match="'opps', not a service of HANDRAIL_API_TOKENS"):
        TokenBook({}, tokens, read_all=["ops", "opps"])
