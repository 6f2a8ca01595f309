"""The ``notify_reviewers`` activity: tell people that a step waits for them.

With a webhook URL in settings (``HANDRAIL_REVIEW_WEBHOOK_URL``), the notice is POSTed there as
JSON (a Slack workflow, an incident tool, a small service of yours); without one, it is a log
line. A webhook that fails (no answer within the timeout, an HTTP error status, no connection)
raises ``ApplicationError(type="WebhookFailed")``, so Temporal retries it under the workflow's
``NOTIFY_RETRY``; after that the workflow goes on waiting, visibly, without the notice.

The POST goes through ``httpx2``: the maintained successor of ``httpx`` by the same author (httpx
itself has had no release since 0.28.1 in 2024-12), and already the HTTP stack under openai 3.x,
so no second one is pulled in. It has the same API, ``MockTransport`` included.
"""

from __future__ import annotations

import json
from typing import Final

import httpx2
from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import NoticeResult, ReviewNotice
from handrail.errors import ErrorType

WEBHOOK_TIMEOUT: Final = httpx2.Timeout(5.0)
"""Per request (connect, write, each read); below ``NOTIFY_TIMEOUT``, so the activity's own
message says what went wrong rather than Temporal's start-to-close timeout."""


def webhook_client(timeout: httpx2.Timeout = WEBHOOK_TIMEOUT) -> httpx2.AsyncClient:
    """The client a worker builds once for its webhook. No retries of its own: Temporal's."""
    return httpx2.AsyncClient(timeout=timeout, follow_redirects=False)


class ReviewerNotifier:
    def __init__(
        self,
        webhook_url: str | None,
        ui_url_for: str = "",
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        """``ui_url_for`` is a format string with ``{task_id}``, linking a notice to the UI.
        ``http_client`` carries the connection pool and timeout; without one, a client is built
        here when there is a webhook, once per worker, and :meth:`aclose` closes it."""
        self._ui_url_for = ui_url_for
        self._owns_client = http_client is None
        self._webhook: tuple[str, httpx2.AsyncClient] | None = None
        if webhook_url is not None:
            self._webhook = (webhook_url, http_client or webhook_client())

    async def aclose(self) -> None:
        """Close the HTTP client if this notifier built it (an injected one is the caller's)."""
        if self._webhook is not None and self._owns_client:
            await self._webhook[1].aclose()

    @activity.defn(name="notify_reviewers")
    async def notify_reviewers(self, notice: ReviewNotice) -> NoticeResult:
        pending = notice.pending
        link = self._ui_url_for.format(task_id=notice.task_id) if self._ui_url_for else ""
        text = (
            f"Task {notice.task_id} step {pending.step} awaits review by {pending.tier} "
            f"({', '.join(pending.reviewers)}) until {pending.deadline_at.isoformat()}: "
            f"{pending.summary}. Reason: {pending.reason}."
        )
        if self._webhook is None:
            activity.logger.info("review needed: %s %s", text, link)
            return NoticeResult(delivered=True, detail="logged")
        payload = {
            "text": text,
            "task_id": notice.task_id,
            "link": link,
            "pending": json.loads(pending.model_dump_json()),
        }
        url, http = self._webhook
        # The messages leave the URL out: it lands in the history, and webhook URLs (Slack's)
        # are often credentials.
        try:
            response = await http.post(url, json=payload)
            response.raise_for_status()
        except httpx2.TimeoutException as error:
            reason = f"did not answer in time ({type(error).__name__}, {http.timeout})"
            raise _failed(reason) from error
        except httpx2.HTTPStatusError as error:
            raise _failed(f"answered HTTP {error.response.status_code}") from error
        except httpx2.HTTPError as error:
            raise _failed(f"could not be reached ({type(error).__name__}: {error})") from error
        return NoticeResult(delivered=True, detail=f"webhook answered HTTP {response.status_code}")


def _failed(reason: str) -> ApplicationError:
    # Retryable: a webhook that is down or slow may be back on the next attempt.
    return ApplicationError(f"review webhook {reason}", type=ErrorType.WEBHOOK_FAILED)
