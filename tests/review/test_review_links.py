"""Signed, expiring, single-use review links: signing and verifying, the single-use table on
SQLite and PostgreSQL, and links applied to real tasks on the dev server (the worker's own
webhook notice carries them; the workflow refuses a link whose proposal changed)."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient, ReviewInput
from handrail.contracts import AgentTask, PendingReview, ReviewReceipt
from handrail.errors import ConfigurationError, ErrorType, ReviewRefusedError
from handrail.http import create_app, running_server
from handrail.names import WORKFLOW_TYPE
from handrail.review.apply import LINK_COMMENT, apply_link
from handrail.review.links import (
    BadLinkSignatureError,
    LinkClaims,
    LinkExpiredError,
    LinkKeys,
    LinksDisabledError,
    LinkUsedError,
    LinkVerdict,
    MalformedLinkError,
    sign_link,
    verify_link,
)
from handrail.review.used_links import UsedLinks
from handrail.settings import HandrailSettings
from handrail.storage.engine import StateDatabase
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.history_tools import history_text
from tests.review.test_notify_webhook import Webhook
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending

KEY = "link-key-" + "a" * 40
OLD_KEY = "old-link-key-" + "b" * 40
IN_AN_HOUR = datetime.now(UTC) + timedelta(hours=1)


def _sign(
    key: str = KEY, verdict: LinkVerdict = "approve", expires_at: datetime = IN_AN_HOUR
) -> str:
    return sign_link(
        key,
        task_id="task-1",
        step=2,
        verdict=verdict,
        fingerprint="f" * 64,
        reviewer="alice",
        expires_at=expires_at,
    )


# --- signing and verifying ------------------------------------------------------------------


def test_a_link_says_who_may_decide_what_until_when() -> None:
    claims = verify_link(KEY, _sign(verdict="reject"))
    assert (claims.task_id, claims.step, claims.verdict, claims.reviewer) == (
        "task-1",
        2,
        "reject",
        "alice",
    )
    assert claims.fingerprint == "f" * 64
    assert claims.expires_at == datetime.fromtimestamp(int(IN_AN_HOUR.timestamp()), UTC)
    assert verify_link(KEY, _sign()).link_id != claims.link_id  # each link is its own


def test_an_expired_link_is_refused() -> None:
    token = _sign(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(LinkExpiredError, match="expired at"):
        verify_link(KEY, token)
    with pytest.raises(LinkExpiredError):  # valid now, not two hours later
        verify_link(KEY, _sign(), now=IN_AN_HOUR + timedelta(hours=1))


def _reencoded(token: str, **changes: Any) -> str:
    """``token`` with its claims changed and its signature kept: what a forger would try."""
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = json.dumps({**claims, **changes}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(changed.encode()).rstrip(b"=").decode() + "." + signature


@pytest.mark.parametrize(
    "changes",
    [{"verdict": "reject"}, {"rev": "mallory"}, {"step": 3}, {"exp": 4_000_000_000}],
)
def test_a_tampered_link_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(BadLinkSignatureError, match="not valid"):
        verify_link(KEY, _reencoded(_sign(), **changes))


def test_a_link_signed_with_another_key_is_refused_and_old_keys_verify() -> None:
    with pytest.raises(BadLinkSignatureError):
        verify_link(KEY, _sign(OLD_KEY))
    rotated = LinkKeys(SecretStr(KEY), (SecretStr(OLD_KEY),))
    assert verify_link(rotated, _sign(OLD_KEY)).reviewer == "alice"  # until it expires
    assert verify_link(rotated, sign_link(rotated, **_claims_of(_sign(OLD_KEY))))  # new: KEY
    assert verify_link(KEY, sign_link(rotated, **_claims_of(_sign()))).step == 2


def _claims_of(token: str) -> dict[str, Any]:
    claims: LinkClaims = verify_link([KEY, OLD_KEY], token)
    return {
        "task_id": claims.task_id,
        "step": claims.step,
        "verdict": claims.verdict,
        "fingerprint": claims.fingerprint,
        "reviewer": claims.reviewer,
        "expires_at": claims.expires_at,
    }


@pytest.mark.parametrize("token", ["", "abc", "abc.", ".abc", "a.b.c!", "é.é", "e30.%%%"])
def test_a_malformed_link_is_refused(token: str) -> None:
    with pytest.raises((MalformedLinkError, BadLinkSignatureError)):
        verify_link(KEY, token)


def test_keys_are_long_never_shown_and_required() -> None:
    with pytest.raises(ConfigurationError, match="32 characters"):
        LinkKeys.of("short")
    with pytest.raises(LinksDisabledError):
        LinkKeys.of([])
    keys = LinkKeys(SecretStr(KEY), (SecretStr(OLD_KEY),))
    assert KEY not in repr(keys)
    assert KEY not in str(keys)
    settings = HandrailSettings(_env_file=None)
    assert LinkKeys.from_settings(settings) is None  # links off without HANDRAIL_LINK_SECRET


# --- single use, on both backends -------------------------------------------------------------


@pytest_asyncio.fixture
async def used_links(state_url: str) -> AsyncIterator[UsedLinks]:
    store = UsedLinks(StateDatabase(state_url))
    yield store
    await store.aclose()


async def test_a_link_is_consumed_once(used_links: UsedLinks, state_url: str) -> None:
    claims = verify_link(KEY, _sign())
    assert not await used_links.is_used(claims.link_id)
    assert await used_links.consume(claims)
    assert await used_links.is_used(claims.link_id)
    assert not await used_links.consume(claims)
    others = [UsedLinks(StateDatabase(state_url)) for _ in range(6)]  # six gateways at once
    another = verify_link(KEY, _sign())
    try:
        won = await asyncio.gather(*(store.consume(another) for store in others))
    finally:
        for store in others:
            await store.aclose()
    assert sorted(won) == [False] * 5 + [True]
    await used_links.release(claims.link_id)  # its decision never reached the task
    assert not await used_links.is_used(claims.link_id)
    assert await used_links.consume(claims)


async def test_expired_uses_can_be_purged(used_links: UsedLinks) -> None:
    soon = verify_link(KEY, _sign(expires_at=datetime.now(UTC) + timedelta(minutes=1)))
    later = verify_link(KEY, _sign())
    assert await used_links.consume(soon)
    assert await used_links.consume(later)
    assert await used_links.purge_expired(now=datetime.now(UTC) + timedelta(minutes=2)) == 1
    assert not await used_links.consume(later)


# --- on real tasks ----------------------------------------------------------------------------


@pytest.fixture
def link_settings(settings: HandrailSettings) -> HandrailSettings:
    return settings.model_copy(
        update={
            "link_secret": SecretStr(KEY),
            "public_url": "https://handrail.example",
            "review_webhook_secret": SecretStr("webhook-" + "c" * 32),
        }
    )


@pytest_asyncio.fixture
async def state(link_settings: HandrailSettings) -> AsyncIterator[StateDatabase]:
    database = StateDatabase(link_settings.state_database_url)
    yield database
    await database.aclose()


async def _pause_refund(
    handrail: HandrailClient, server: ScriptedModelServer, task_id: str | None = None
) -> tuple[str, PendingReview]:
    server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    if task_id is None:
        handle = await handrail.start_task({"goal": "Resolve order 1003", "profile": PROFILE})
        task_id = handle.id
    else:  # a foreign client reusing a closed id (the default id reuse policy allows it)
        await handrail.temporal.start_workflow(
            WORKFLOW_TYPE,
            AgentTask(goal="Resolve order 1003", profile=PROFILE),
            id=task_id,
            task_queue=handrail.settings.task_queue,
        )
    return task_id, await wait_for_pending(handrail, task_id)


def _link(task_id: str, pending: PendingReview, reviewer: str = "alice", **kw: Any) -> str:
    assert pending.fingerprint is not None
    fields: dict[str, Any] = {
        "task_id": task_id,
        "step": pending.step,
        "verdict": "approve",
        "fingerprint": pending.fingerprint,
        "reviewer": reviewer,
        "expires_at": IN_AN_HOUR,
    }
    return sign_link(KEY, **{**fields, **kw})


async def test_the_notice_link_approves_a_pending_refund_once(
    client: Client,
    link_settings: HandrailSettings,
    state: StateDatabase,
    model_server: ScriptedModelServer,
) -> None:
    create_store(store_db_path(link_settings))
    with Webhook([200]) as hook:
        # The worker's notifier is the one the settings describe (links, signature).
        configured = link_settings.model_copy(update={"review_webhook_url": hook.url})
        handrail = HandrailClient(client, configured)
        async with running_worker(client, configured):
            task_id, pending = await _pause_refund(handrail, model_server)
            for _ in range(100):
                if hook.received:
                    break
                await asyncio.sleep(0.05)
            (notice,) = hook.received
            carol = next(entry for entry in notice["links"] if entry["reviewer"] == "carol")
            token = carol["approve"].removeprefix("https://handrail.example/links/")

            receipt = await apply_link(handrail, state, KEY, token)
            assert (receipt.step, receipt.verdict) == (pending.step, "approve")
            with pytest.raises(LinkUsedError, match="used already"):
                await apply_link(handrail, state, KEY, token)
            result = await handrail.get_result(task_id)
    assert result.status == "answered"
    review = result.steps[0].review
    assert review is not None
    # Who decided is who the link was made for; the record says how, and for what.
    assert (review.reviewer, review.verdict, review.via) == ("carol", "approve", "update")
    assert (review.comment, review.fingerprint) == (LINK_COMMENT, pending.fingerprint)
    history = history_text(await client.get_workflow_handle(task_id).fetch_history())
    assert KEY not in history
    assert "webhook-" + "c" * 32 not in history
    assert token.split(".")[1] not in history  # no link either


async def test_expired_tampered_and_unauthorised_links_decide_nothing(
    handrail: HandrailClient,
    link_settings: HandrailSettings,
    state: StateDatabase,
    model_server: ScriptedModelServer,
) -> None:
    create_store(store_db_path(link_settings))
    async with running_worker(handrail.temporal, link_settings):
        task_id, pending = await _pause_refund(handrail, model_server)
        expired = _link(task_id, pending, expires_at=datetime.now(UTC) - timedelta(seconds=1))
        with pytest.raises(LinkExpiredError):
            await apply_link(handrail, state, KEY, expired)
        approve = _link(task_id, pending)
        with pytest.raises(BadLinkSignatureError):
            await apply_link(handrail, state, KEY, _reencoded(approve, verdict="reject"))
        with pytest.raises(ReviewRefusedError) as refused:  # signed, but for a stranger
            await apply_link(handrail, state, KEY, _link(task_id, pending, "mallory"))
        assert refused.value.error_type == ErrorType.REVIEW_UNAUTHORISED
        assert (await handrail.get_trace(task_id)).pending_review is not None  # still waits
        await apply_link(handrail, state, KEY, _link(task_id, pending, verdict="reject"))
        assert (await handrail.get_result(task_id)).status == "rejected"
        with pytest.raises(ReviewRefusedError) as stale:  # the step was decided by now
            await apply_link(handrail, state, KEY, approve)
        assert stale.value.error_type == ErrorType.REVIEW_STALE


async def test_a_link_for_a_proposal_that_changed_is_refused_by_the_workflow(
    handrail: HandrailClient,
    link_settings: HandrailSettings,
    state: StateDatabase,
    model_server: ScriptedModelServer,
) -> None:
    create_store(store_db_path(link_settings))
    task_id = f"order-1003-{uuid.uuid4().hex[:6]}"
    async with running_worker(handrail.temporal, link_settings):
        _, first = await _pause_refund(handrail, model_server, task_id)
        link = _link(task_id, first)  # sent to alice, who is away
        await handrail.review(task_id, {"reviewer": "bob", "step": 1, "verdict": "reject"})
        await handrail.get_result(task_id)
        # The task id runs again and step 1 waits again: the same words, another proposal.
        _, second = await _pause_refund(handrail, model_server, task_id)
        with pytest.raises(ReviewRefusedError) as refused:
            await apply_link(handrail, state, KEY, link)
        assert refused.value.error_type == ErrorType.REVIEW_FINGERPRINT_MISMATCH
        assert f"{first.fingerprint}" in str(refused.value)
        assert f"{second.fingerprint}" in str(refused.value)
        with pytest.raises(LinkUsedError):  # refused by the task: spent all the same
            await apply_link(handrail, state, KEY, link)
        await apply_link(handrail, state, KEY, _link(task_id, second, verdict="reject"))
        assert (await handrail.get_result(task_id)).status == "rejected"


class _Unreachable(HandrailClient):
    """A client whose Temporal cannot be reached: every update fails in transit."""

    async def review(
        self, task_id: str, decision: ReviewInput, *, update_id: str | None = None
    ) -> ReviewReceipt:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


async def test_a_link_whose_decision_was_not_delivered_can_be_clicked_again(
    handrail: HandrailClient, state: StateDatabase
) -> None:
    pending = PendingReview(
        step=1,
        tool="issue_refund",
        arguments={},
        reason="",
        tier="support",
        reviewers=["alice"],
        requested_at=datetime.now(UTC),
        deadline_at=IN_AN_HOUR,
        fingerprint="f" * 64,
    )
    token = _link(f"no-such-task-{uuid.uuid4().hex[:6]}", pending)
    unreachable = _Unreachable(handrail.temporal, handrail.settings)
    for _ in range(2):  # released after each failure in transit, not refused as used
        with pytest.raises(RPCError, match="connection refused"):
            await apply_link(unreachable, state, KEY, token)
    with pytest.raises(ReviewRefusedError, match="not running") as refused:  # no such task
        await apply_link(handrail, state, KEY, token)
    assert refused.value.error_type == ErrorType.REVIEW_STALE
    with pytest.raises(LinkUsedError):  # and that answer is final
        await apply_link(handrail, state, KEY, token)


# --- the gateway's /links/{token} (shown and decided in tests/http/test_http_links.py) ---


@pytest_asyncio.fixture
async def gateway(link_settings: HandrailSettings, client: Client) -> AsyncIterator[str]:
    async with running_server(create_app(HandrailClient(client, link_settings))) as url:
        yield url


async def test_the_gateway_refuses_a_link_whose_proposal_changed(
    gateway: str,
    handrail: HandrailClient,
    link_settings: HandrailSettings,
    model_server: ScriptedModelServer,
) -> None:
    create_store(store_db_path(link_settings))
    task_id = f"order-1003-{uuid.uuid4().hex[:6]}"
    origin = {"Origin": gateway}
    async with (
        running_worker(handrail.temporal, link_settings),
        httpx2.AsyncClient(base_url=gateway) as http,
    ):
        _, first = await _pause_refund(handrail, model_server, task_id)
        link = _link(task_id, first)
        await handrail.review(task_id, {"reviewer": "bob", "step": 1, "verdict": "reject"})
        await handrail.get_result(task_id)
        _, second = await _pause_refund(handrail, model_server, task_id)
        page = await http.get(f"/links/{link}")
        assert page.status_code == 200
        assert "The proposal changed since this link was sent" in page.text
        refused = await http.post(f"/links/{link}", headers=origin)
        assert refused.status_code == 409
        assert f"now proposes {second.fingerprint}" in refused.text  # the workflow's refusal
        assert (await handrail.get_trace(task_id)).pending_review is not None
        reject = _link(task_id, second, verdict="reject")
        assert (await http.post(f"/links/{reject}", headers=origin)).status_code == 200
        assert (await handrail.get_result(task_id)).status == "rejected"
