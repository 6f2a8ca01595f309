"""Reviewer webhooks through the real ``notify_reviewers`` activity, on the session's dev server,
against a real local HTTP server: Temporal's ``NOTIFY_RETRY`` retries a failed POST."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from handrail.activities.notify import NoticeFormat, ReviewerNotifier, webhook_client
from handrail.contracts import NoticeResult, PendingReview, ReviewNotice
from handrail.errors import ConfigurationError
from handrail.review.links import LinkKeys, verify_link
from handrail.review.notices import LinkMaker
from handrail.review.signature import NoticeSignatureError, verify_notice
from handrail.settings import HandrailSettings
from handrail.workflows import options
from tests.history_tools import history_text

NEVER = -1
"""A scripted "status" for a webhook that reads the request and never answers."""


class Webhook:
    """A local HTTP server answering POSTs with scripted statuses, recording the bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[dict[str, Any]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []  # headers and body as sent
        self.release = threading.Event()  # lets a NEVER handler finish when the test ends
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                hook.raw.append((dict(self.headers.items()), body))
                status = hook.statuses.pop(0) if len(hook.statuses) > 1 else hook.statuses[0]
                if status == NEVER:
                    hook.release.wait()
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Webhook:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def notice() -> ReviewNotice:
    now = datetime.now(UTC)
    pending = PendingReview(
        step=1,
        tool="issue_refund",
        arguments={"order_id": 1003, "amount": "80.00"},
        reason="refunds over 50.00 need a person",
        tier="support",
        reviewers=["alice"],
        requested_at=now,
        deadline_at=now + timedelta(days=1),
        summary="refund 80.00 on order 1003",
    )
    return ReviewNotice(task_id=f"task-{uuid.uuid4().hex[:8]}", pending=pending)


@workflow.defn
class NotifyOnceWorkflow:
    """Calls the activity the way the agent's review step does: its timeout, its retry policy."""

    @workflow.run
    async def run(self, notice: ReviewNotice) -> NoticeResult:
        result: NoticeResult = await workflow.execute_activity(
            "notify_reviewers",
            notice,
            result_type=NoticeResult,
            start_to_close_timeout=options.NOTIFY_TIMEOUT,
            retry_policy=options.NOTIFY_RETRY,
        )
        return result


async def notify_through_temporal(
    client: Client, notifier: ReviewerNotifier, notice: ReviewNotice, workflow_id: str = ""
) -> NoticeResult:
    task_queue = f"test-notify-{uuid.uuid4().hex[:10]}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[NotifyOnceWorkflow],
        activities=[notifier.notify_reviewers],
        # A harness workflow defined in a test module; the sandbox adds nothing here.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        return await client.execute_workflow(
            NotifyOnceWorkflow.run, notice, id=workflow_id or task_queue, task_queue=task_queue
        )


async def test_a_webhook_answering_500_is_retried_by_temporal(
    client: Client, notice: ReviewNotice
) -> None:
    with Webhook([500, 200]) as hook:
        notifier = ReviewerNotifier(hook.url, "http://ui/{}".format)
        try:
            result = await notify_through_temporal(client, notifier, notice)
        finally:
            await notifier.aclose()
    assert result == NoticeResult(delivered=True, detail="webhook answered HTTP 200")
    assert len(hook.received) == 2
    first, second = hook.received
    assert first == second
    assert first["task_id"] == notice.task_id
    assert first["link"] == f"http://ui/{notice.task_id}"
    assert first["pending"]["tool"] == "issue_refund"


async def test_a_webhook_that_never_answers_times_out_each_attempt(
    client: Client, notice: ReviewNotice
) -> None:
    async with webhook_client(httpx2.Timeout(0.2)) as http:
        with Webhook([NEVER]) as hook:
            notifier = ReviewerNotifier(hook.url, http_client=http)
            with pytest.raises(WorkflowFailureError) as caught:
                await notify_through_temporal(client, notifier, notice)
            await notifier.aclose()
            assert not http.is_closed  # injected: the caller's to close
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    failure = activity_error.cause
    assert isinstance(failure, ApplicationError)
    assert failure.type == "WebhookFailed"
    assert "did not answer in time (ReadTimeout" in failure.message
    assert not failure.non_retryable
    assert len(hook.received) == options.NOTIFY_RETRY.maximum_attempts


async def test_an_unreachable_webhook_says_so_without_its_url(notice: ReviewNotice) -> None:
    with Webhook([200]) as hook:
        url = hook.url.replace("/hook", "/T000/B000/secret-token")
    # The server is closed now: nothing listens on its port.
    notifier = ReviewerNotifier(url)
    try:
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(notifier.notify_reviewers, notice)
    finally:
        await notifier.aclose()
    assert caught.value.type == "WebhookFailed"
    assert "review webhook could not be reached (ConnectError" in caught.value.message
    assert "secret-token" not in caught.value.message


async def test_without_a_webhook_the_notice_is_logged(notice: ReviewNotice) -> None:
    notifier = ReviewerNotifier(None)
    result = await ActivityEnvironment().run(notifier.notify_reviewers, notice)
    await notifier.aclose()
    assert result == NoticeResult(delivered=True, detail="logged")


# --- signed notices, review links, the Slack shape -------------------------------------------

LINK_KEY = "link-key-" + "0123456789abcdef0123456789abcdef"
WEBHOOK_KEY = "webhook-key-" + "fedcba9876543210"


def _bound(notice: ReviewNotice, **changes: Any) -> ReviewNotice:
    """``notice`` as the workflow sends it today: with a fingerprint and two reviewers."""
    pending = notice.pending.model_copy(
        update={"fingerprint": "f" * 64, "reviewers": ["alice", "carol"], **changes}
    )
    return notice.model_copy(update={"pending": pending})


def _signing_notifier(url: str, body_format: NoticeFormat = "handrail") -> ReviewerNotifier:
    return ReviewerNotifier(
        url,
        "http://ui/{}".format,
        links=LinkMaker(LinkKeys.of(LINK_KEY), "https://handrail.example/", timedelta(hours=4)),
        webhook_secret=SecretStr(WEBHOOK_KEY),
        body_format=body_format,
    )


async def test_a_signed_notice_verifies_by_the_documented_recipe_and_carries_links(
    client: Client, notice: ReviewNotice
) -> None:
    notice = _bound(notice)
    workflow_id = f"notify-{uuid.uuid4().hex[:10]}"
    before = datetime.now(UTC)
    with Webhook([200]) as hook:
        notifier = _signing_notifier(hook.url)
        try:
            await notify_through_temporal(client, notifier, notice, workflow_id)
        finally:
            await notifier.aclose()
    ((headers, body),) = hook.raw
    # The recipe in the README, spelled out: HMAC-SHA256(key, timestamp + "." + raw body).
    timestamp = headers["X-Handrail-Timestamp"]
    expected = hmac.new(WEBHOOK_KEY.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert headers["X-Handrail-Signature"] == f"sha256={expected.hexdigest()}"
    verify_notice(WEBHOOK_KEY, headers, body)
    with pytest.raises(NoticeSignatureError, match="does not match"):
        verify_notice(WEBHOOK_KEY, headers, body.replace(b"80.00", b"800.00"))
    with pytest.raises(NoticeSignatureError, match="too old"):
        verify_notice(WEBHOOK_KEY, headers, body, now=datetime.now(UTC) + timedelta(minutes=6))
    with pytest.raises(NoticeSignatureError, match="missing"):
        verify_notice(WEBHOOK_KEY, {}, body)

    sent = json.loads(body)
    assert sent["pending"]["fingerprint"] == notice.pending.fingerprint
    assert [entry["reviewer"] for entry in sent["links"]] == ["alice", "carol"]
    for entry in sent["links"]:
        for verdict in ("approve", "reject"):
            url = entry[verdict]
            assert url.startswith("https://handrail.example/links/")
            claims = verify_link(LINK_KEY, url.rsplit("/", 1)[1])
            assert (claims.task_id, claims.step, claims.verdict, claims.reviewer) == (
                notice.task_id,
                1,
                verdict,
                entry["reviewer"],
            )
            assert claims.fingerprint == notice.pending.fingerprint
            # The tier's deadline is a day away: the link ends sooner, at the TTL.
            assert before + timedelta(hours=4) - timedelta(seconds=1) <= claims.expires_at
            assert claims.expires_at <= datetime.now(UTC) + timedelta(hours=4)

    # The keys and the links were made in the activity: none of them is in the history.
    history = history_text(await client.get_workflow_handle(workflow_id).fetch_history())
    assert LINK_KEY not in history
    assert WEBHOOK_KEY not in history
    assert "/links/" not in history
    assert sent["links"][0]["approve"].rsplit("/", 1)[1].split(".")[1] not in history


async def test_the_slack_shape_has_a_button_per_reviewer_and_verdict(
    notice: ReviewNotice,
) -> None:
    notice = _bound(notice, summary="refund 80.00 <!channel> <http://evil|click> & more")
    with Webhook([200]) as hook:
        notifier = _signing_notifier(hook.url, "slack")
        try:
            await ActivityEnvironment().run(notifier.notify_reviewers, notice)
        finally:
            await notifier.aclose()
    ((headers, body),) = hook.raw
    verify_notice(WEBHOOK_KEY, headers, body)  # signed in either format
    message = json.loads(body)
    assert notice.task_id in message["text"]  # Slack's fallback for notifications
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header"
    section = blocks[1]["text"]
    assert section["type"] == "mrkdwn"
    # Model-made text is shown, never read as a mention or a link.
    assert "&lt;!channel&gt; &lt;http://evil|click&gt; &amp; more" in section["text"]
    assert "<!channel>" not in section["text"]
    buttons = [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] != "open-ui"
    ]
    labels = [(button["text"]["text"], button.get("style")) for button in buttons]
    assert labels == [
        ("Approve as alice", "primary"),
        ("Reject as alice", "danger"),
        ("Approve as carol", "primary"),
        ("Reject as carol", "danger"),
    ]
    for button in buttons:
        claims = verify_link(LINK_KEY, button["url"].rsplit("/", 1)[1])
        assert button["text"]["text"] == f"{claims.verdict.title()} as {claims.reviewer}"
    ui = [
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["url"] == (f"http://ui/{notice.task_id}")
    ]
    assert len(ui) == 1


async def test_no_links_without_a_fingerprint_a_public_url_or_a_key(notice: ReviewNotice) -> None:
    def settings(**values: Any) -> HandrailSettings:
        return HandrailSettings(_env_file=None, review_webhook_url="http://hook", **values)

    key = SecretStr(LINK_KEY)
    assert ReviewerNotifier.from_settings(settings())._links is None
    assert ReviewerNotifier.from_settings(settings(link_secret=key))._links is None
    assert ReviewerNotifier.from_settings(settings(public_url="https://h"))._links is None
    notifier = ReviewerNotifier.from_settings(settings(link_secret=key, public_url="https://h"))
    assert notifier._links is not None
    await notifier.aclose()
    with pytest.raises(ConfigurationError, match="32 characters"):
        ReviewerNotifier.from_settings(settings(link_secret=SecretStr("short")))
    # A run recorded before fingerprints: nothing to bind a link to.
    maker = LinkMaker(LinkKeys.of(LINK_KEY), "https://h", timedelta(hours=1))
    assert maker.links_for(notice, datetime.now(UTC)) == []
    assert len(maker.links_for(_bound(notice), datetime.now(UTC))) == 2
    # A deadline already passed: the next tier decides, with links of its own.
    assert maker.links_for(_bound(notice), notice.pending.deadline_at) == []


async def test_the_log_line_carries_no_link(
    notice: ReviewNotice, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = _signing_notifier("unused")
    notifier._webhook = None  # links on, webhook off: the notice is a log line
    caplog.set_level(logging.INFO)
    result = await ActivityEnvironment().run(notifier.notify_reviewers, _bound(notice))
    assert result.detail == "logged"
    assert "review needed" in caplog.text
    assert "/links/" not in caplog.text
