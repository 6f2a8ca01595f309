"""Deciding while the task's worker has just stopped, over real HTTP: the server still lists
the worker's poller, so the gateway's worker check passes and the update waits for a worker
that is gone. The answer is a 504 within the gateway's review timeout (short here), never a
500; a signed link is not used up by a decision that never reached the task; and once a worker
is back, the decision that did reach the server is taken, exactly once."""

from __future__ import annotations

import time
from typing import Any

from pydantic import SecretStr
from temporalio.client import Client

from examples.store.worker import running_worker
from handrail.settings import HandrailSettings
from tests.http.test_http_api import TOKENS, Api, bearer, error_of, serve_gateway
from tests.review_helpers import signed_link

SECRET = "link-secret-for-stopped-worker-" + "0123456789abcdef"
REVIEW_TIMEOUT = 1.0
# The 504 must come from the gateway's timeout, not from the HTTP client's (30 s).
ANSWERED_WITHIN = 10.0


async def _paused_refund(
    api: Api, client: Client, settings: HandrailSettings
) -> tuple[str, dict[str, Any]]:
    """A refund waiting for review, whose worker has stopped since."""
    async with running_worker(client, settings):
        task_id = str((await api.start()).json()["task_id"])
        pending = await api.wait_pending(task_id)
    return task_id, pending


async def test_a_decision_nobody_takes_is_a_504_and_counts_once_a_worker_is_back(
    client: Client, settings: HandrailSettings
) -> None:
    async with serve_gateway(client, settings, review_timeout=REVIEW_TIMEOUT) as api:
        task_id, pending = await _paused_refund(api, client, settings)
        started = time.monotonic()
        late = await api.http.post(
            f"/reviews/{task_id}",
            json={"step": pending["step"], "verdict": "approve"},
            headers=bearer(TOKENS["alice"]),
            timeout=ANSWERED_WITHIN,
        )
        assert late.status_code == 504, late.text
        assert time.monotonic() - started < ANSWERED_WITHIN
        error = error_of(late)
        assert error["type"] == "Timeout"
        assert f"task {task_id} did not confirm the decision within 1 s" in error["message"]
        assert "a step counts one decision only" in error["message"]
        async with running_worker(client, settings):
            # What the 504 said: the decision reached the server and is taken now, once.
            done = await api.wait_done(task_id, timeout=30)
    assert done["status"] == "answered"
    [reviewed] = [step for step in done["result"]["steps"] if step.get("review")]
    assert (reviewed["review"]["reviewer"], reviewed["review"]["verdict"]) == ("alice", "approve")


async def test_a_link_that_timed_out_is_not_used_up(
    client: Client, settings: HandrailSettings
) -> None:
    with_links = settings.model_copy(update={"link_secret": SecretStr(SECRET)})
    async with serve_gateway(client, with_links, review_timeout=REVIEW_TIMEOUT) as api:
        task_id, pending = await _paused_refund(api, client, with_links)
        token = signed_link(SECRET, task_id, pending, reviewer="bob")
        origin = {"Origin": api.url}
        started = time.monotonic()
        late = await api.http.post(f"/links/{token}", headers=origin, timeout=ANSWERED_WITHIN)
        assert late.status_code == 504, late.text
        assert time.monotonic() - started < ANSWERED_WITHIN
        assert "This link was not used up: you can press it again." in late.text
        async with running_worker(client, with_links):
            # Pressed again: not "used already". The click joins the decision the first one
            # left with the server (the update's id is the link's), so it is recorded once.
            again = await api.http.post(f"/links/{token}", headers=origin)
            assert again.status_code == 200, again.text
            assert "Recorded: approve of step" in again.text
            spent = await api.http.post(f"/links/{token}", headers=origin)
            assert spent.status_code == 409
            assert "used already" in spent.text
            done = await api.wait_done(task_id, timeout=30)
    reviews = [step["review"] for step in done["result"]["steps"] if step.get("review")]
    assert [(r["reviewer"], r["verdict"]) for r in reviews] == [("bob", "approve")]
