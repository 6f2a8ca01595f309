"""The ``notify_reviewers`` activity: tell people that a step waits for them.

With a webhook URL in settings (``HANDRAIL_REVIEW_WEBHOOK_URL``), the notice is POSTed there as
JSON (a Slack workflow, an incident tool, a small service of yours); without one, it is a log
line. The body is Handrail's JSON or a Slack Block Kit message
(``HANDRAIL_REVIEW_WEBHOOK_FORMAT``, ``handrail.review.notices``); with a link key and the
gateway's public URL it carries signed approve/reject links per reviewer, and with a webhook
key it is signed itself (``handrail.review.signature``). Links and signatures are made here,
in the activity: their keys never reach the workflow, and the activity's result says only
whether the notice was delivered.

A webhook that fails (no answer within the timeout, an HTTP error status, no connection)
raises ``ApplicationError(type="WebhookFailed")``, so Temporal retries it under the workflow's
``NOTIFY_RETRY``; after that the workflow goes on waiting, visibly, without the notice.

The POST goes through ``httpx2``: the maintained successor of ``httpx`` by the same author (httpx
itself has had no release since 0.28.1 in 2024-12), and already the HTTP stack under openai 3.x,
so no second one is pulled in. It has the same API, ``MockTransport`` included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Literal

import httpx2
from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import NoticeResult, ReviewNotice
from handrail.errors import ErrorType
from handrail.review.links import LinkKeys
from handrail.review.notices import LinkMaker, handrail_body, notice_text, slack_body
from handrail.review.signature import signature_headers
from handrail.settings import HandrailSettings

NoticeFormat = Literal["handrail", "slack"]

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
        ui_url_for: Callable[[str], str] | None = None,
        http_client: httpx2.AsyncClient | None = None,
        *,
        links: LinkMaker | None = None,
        webhook_secret: SecretStr | None = None,
        body_format: NoticeFormat = "handrail",
    ) -> None:
        """``ui_url_for`` gives a task's link in the UI (``HandrailSettings.ui_url``, which
        percent-encodes the id: a task id is a caller's text).
        ``http_client`` carries the connection pool and timeout; without one, a client is built
        here when there is a webhook, once per worker, and :meth:`aclose` closes it.
        ``links`` signs review links (None: none); ``webhook_secret`` signs each POST."""
        self._ui_url_for = ui_url_for
        self._links = links
        self._webhook_secret = webhook_secret
        self._format = body_format
        self._owns_client = http_client is None
        self._webhook: tuple[str, httpx2.AsyncClient] | None = None
        if webhook_url is not None:
            self._webhook = (webhook_url, http_client or webhook_client())

    @classmethod
    def from_settings(
        cls, settings: HandrailSettings, http_client: httpx2.AsyncClient | None = None
    ) -> ReviewerNotifier:
        """The notifier the settings describe: webhook, format, signing key, and links when
        both ``HANDRAIL_LINK_SECRET`` and ``HANDRAIL_PUBLIC_URL`` are set."""
        keys = LinkKeys.from_settings(settings)
        links = None
        if keys is not None and settings.public_url:
            links = LinkMaker(keys, settings.public_url, settings.link_ttl)
        return cls(
            settings.review_webhook_url,
            settings.ui_url,
            http_client,
            links=links,
            webhook_secret=settings.review_webhook_secret,
            body_format=settings.review_webhook_format,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this notifier built it (an injected one is the caller's)."""
        if self._webhook is not None and self._owns_client:
            await self._webhook[1].aclose()

    @activity.defn(name="notify_reviewers")
    async def notify_reviewers(self, notice: ReviewNotice) -> NoticeResult:
        link = self._ui_url_for(notice.task_id) if self._ui_url_for else ""
        if self._webhook is None:
            # No links in the log line: a link is a credential for one decision.
            activity.logger.info("review needed: %s %s", notice_text(notice), link)
            return NoticeResult(delivered=True, detail="logged")
        now = datetime.now(UTC)
        links = self._links.links_for(notice, now) if self._links is not None else []
        make_body = slack_body if self._format == "slack" else handrail_body
        # The exact bytes sent are the bytes signed: a receiver verifies the raw body.
        body = json.dumps(
            make_body(notice, link, links), separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._webhook_secret is not None:
            headers |= signature_headers(self._webhook_secret, body, now)
        url, http = self._webhook
        # The messages leave the URL out: it lands in the history, and webhook URLs (Slack's)
        # are often credentials.
        try:
            response = await http.post(url, content=body, headers=headers)
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
