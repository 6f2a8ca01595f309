"""Sequences of link uses, drawn by hypothesis, against the real gateway and worker.

Schemathesis cannot drive ``/links/{token}``: the route is outside the OpenAPI schema (it is a
page for people), and its tokens are minted by the workers' notify activity with the link key,
never returned by an API response, so no link of the schema leads to one. Here hypothesis
draws what a schemathesis run would: for one refund waiting for review, a sequence of opens and
presses of genuine, stale, foreign, expired, forged, swapped and malformed links, from this
origin or another. Whatever the order: no answer is a 5xx; opening decides nothing; each kind
of bad link gets its own status; and the step is decided at most once, by the first genuine
press, as the link's own reviewer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx2
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from temporalio.client import Client

from handrail.review.links import sign_link
from handrail.settings import HandrailSettings
from tests.http.test_http_api import REFUND_GOAL, SERVICE_TOKEN, Api, bearer, serve_gateway

SECRET = "link-secret-for-sequences-" + "0123456789abcdef"
SEQUENCES = 4

pytestmark = pytest.mark.usefixtures("worker")

# kind -> (reviewer, verdict, what it changes); alice and bob may decide the support tier,
# dave is a reviewer the profile does not name.
GENUINE: Final = {"approve-alice": ("alice", "approve"), "reject-bob": ("bob", "reject")}
REFUSED: Final = {  # kind -> the status a press gets while the step still waits
    "dave": 403,  # signed, but for a reviewer the tier does not allow
    "other-fingerprint": 409,  # made for another proposal
    "other-step": 409,  # made for a step that does not wait
    "expired": 410,
    "forged": 403,  # signature changed
    "swapped": 403,  # a genuine payload under another link's signature
    "foreign-key": 403,  # signed with a key this gateway does not have
    "malformed": 400,
}
KINDS: Final = [*GENUINE, *REFUSED]
# Always run too: every bad kind opened and pressed, then a genuine press, pressed again, and
# the other genuine link after the step was decided.
EVERY_KIND_ONCE: Final = [
    *((kind, how) for kind in REFUSED for how in ("open", "press")),
    ("approve-alice", "cross-site"),
    ("approve-alice", "press"),
    ("approve-alice", "press"),
    ("reject-bob", "press"),
]


@pytest_asyncio.fixture
async def api(client: Client, settings: HandrailSettings) -> AsyncIterator[Api]:
    with_links = settings.model_copy(update={"link_secret": SecretStr(SECRET)})
    async with serve_gateway(client, with_links) as served:
        yield served


def _tokens(task_id: str, pending: dict[str, Any]) -> dict[str, str]:
    def signed(reviewer: str, verdict: str, key: str = SECRET, **changes: Any) -> str:
        fields: dict[str, Any] = {
            "task_id": task_id,
            "step": int(pending["step"]),
            "verdict": verdict,
            "fingerprint": str(pending["fingerprint"]),
            "reviewer": reviewer,
            "expires_at": datetime.now(UTC) + timedelta(minutes=10),
        }
        return sign_link(key, **{**fields, **changes})

    approve = signed("alice", "approve")
    return {
        "approve-alice": approve,
        "reject-bob": signed("bob", "reject"),
        "dave": signed("dave", "approve"),
        "other-fingerprint": signed("alice", "approve", fingerprint="0" * 64),
        "other-step": signed("alice", "approve", step=int(pending["step"]) + 3),
        "expired": signed("alice", "approve", expires_at=datetime.now(UTC) - timedelta(1)),
        "forged": approve[:-4] + ("AAAA" if not approve.endswith("AAAA") else "BBBB"),
        "swapped": signed("bob", "reject").split(".")[0] + "." + approve.split(".")[1],
        "foreign-key": signed("alice", "approve", key="another-key-" + "9" * 32),
        "malformed": approve.split(".")[0],
    }


def _pending(http: httpx2.Client, task_id: str) -> dict[str, Any] | None:
    response = http.get(f"/tasks/{task_id}", headers=bearer(SERVICE_TOKEN))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body["pending_review"] if not body["done"] else None


def _start_and_wait(http: httpx2.Client) -> tuple[str, dict[str, Any]]:
    started = http.post(
        "/tasks",
        json={"goal": REFUND_GOAL, "profile": "store_actions"},
        headers=bearer(SERVICE_TOKEN),
    )
    assert started.status_code == 201, started.text
    task_id = str(started.json()["task_id"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = http.get("/reviews", headers=bearer("hrt_test_alice_token")).json()
        for row in rows:
            if row["task_id"] == task_id:
                return task_id, dict(row)
        time.sleep(0.05)
    raise AssertionError(f"{task_id} never waited for review")


Use = tuple[str, str]  # (kind, "open" | "press" | "cross-site")


def run_sequences(url: str) -> int:
    """Run the drawn sequences; how many ran."""
    runs = 0

    @given(
        uses=st.lists(
            st.tuples(st.sampled_from(KINDS), st.sampled_from(["open", "press", "cross-site"])),
            min_size=1,
            max_size=8,
        )
    )
    @example(uses=EVERY_KIND_ONCE)
    @settings(
        max_examples=SEQUENCES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def sequence(uses: list[Use]) -> None:
        nonlocal runs
        runs += 1
        with httpx2.Client(base_url=url, timeout=30) as http:
            task_id, pending = _start_and_wait(http)
            tokens = _tokens(task_id, pending)
            decided_by: tuple[str, str] | None = None
            for kind, how in uses:
                path = f"/links/{tokens[kind]}"
                if how == "open":
                    response = http.get(path)
                else:
                    origin = url if how == "press" else "https://evil.test"
                    response = http.post(path, headers={"Origin": origin})
                status = response.status_code
                assert status < 500, (kind, how, status, response.text)
                if how == "cross-site":
                    assert status == 403, (kind, status)  # another origin never decides
                elif kind in REFUSED:
                    allowed = {REFUSED[kind]}
                    if how == "open" and kind in ("dave", "other-fingerprint", "other-step"):
                        allowed = {200}  # a genuine link's page: it shows, decides nothing
                    elif kind == "dave":
                        # Refused by the task, it is spent (409 used already), and once the
                        # step is decided, the task refuses it as stale (409) too.
                        allowed = {403, 409}
                    assert status in allowed, (kind, how, status)
                elif how == "open":
                    assert status == 200, (kind, status)
                elif decided_by is None:
                    assert status == 200, (kind, status, response.text)
                    decided_by = GENUINE[kind]
                else:
                    assert status == 409, (kind, status)  # used already, or step decided
                if decided_by is None:
                    assert _pending(http, task_id) is not None  # nothing decided yet
            _check_decision(http, task_id, decided_by)

    sequence()
    return runs


def _check_decision(http: httpx2.Client, task_id: str, decided_by: tuple[str, str] | None) -> None:
    deadline = time.monotonic() + 15
    while True:
        response = http.get(f"/tasks/{task_id}", headers=bearer(SERVICE_TOKEN)).json()
        if decided_by is None or response["done"]:
            break
        assert time.monotonic() < deadline, f"{task_id} did not finish"
        time.sleep(0.05)
    if decided_by is None:
        assert response["pending_review"] is not None
        return
    reviews = [step["review"] for step in response["result"]["steps"] if step.get("review")]
    assert [(r["reviewer"], r["verdict"]) for r in reviews] == [decided_by]


async def test_any_sequence_of_link_uses_decides_at_most_once(api: Api) -> None:
    assert await asyncio.to_thread(run_sequences, api.url) == SEQUENCES + 1  # the example
