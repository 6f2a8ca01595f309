"""Reviewer webhooks through the real ``notify_reviewers`` activity, on the session's dev server,
against a real local HTTP server: Temporal's ``NOTIFY_RETRY`` retries a failed POST."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from handrail.activities.notify import ReviewerNotifier, webhook_client
from handrail.contracts import NoticeResult, PendingReview, ReviewNotice
from handrail.workflows import options

NEVER = -1
"""A scripted "status" for a webhook that reads the request and never answers."""


class Webhook:
    """A local HTTP server answering POSTs with scripted statuses, recording the bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[dict[str, Any]] = []
        self.release = threading.Event()  # lets a NEVER handler finish when the test ends
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
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
    client: Client, notifier: ReviewerNotifier, notice: ReviewNotice
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
            NotifyOnceWorkflow.run, notice, id=task_queue, task_queue=task_queue
        )


async def test_a_webhook_answering_500_is_retried_by_temporal(
    client: Client, notice: ReviewNotice
) -> None:
    with Webhook([500, 200]) as hook:
        notifier = ReviewerNotifier(hook.url, "http://ui/{task_id}")
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
