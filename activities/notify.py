"""The ``notify_reviewers`` activity: tell people that a step waits for them.

With a webhook URL in settings (``HANDRAIL_REVIEW_WEBHOOK_URL``), the notice is POSTed there as
JSON (a Slack workflow, an incident tool, a small service of yours); without one, it is a log
line. A webhook that fails raises, so Temporal retries it a few times; after that the workflow
goes on waiting, visibly, without the notice.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import NoticeResult, ReviewNotice

_WEBHOOK_TIMEOUT_SECONDS = 5.0


class ReviewerNotifier:
    def __init__(self, webhook_url: str | None, ui_url_for: str = "") -> None:
        """``ui_url_for`` is a format string with ``{task_id}``, linking a notice to the UI."""
        self._webhook_url = webhook_url
        self._ui_url_for = ui_url_for

    def _post(self, body: bytes) -> int:
        assert self._webhook_url is not None
        request = urllib.request.Request(
            self._webhook_url,
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=_WEBHOOK_TIMEOUT_SECONDS) as response:
            status: int = response.status
            return status

    @activity.defn(name="notify_reviewers")
    async def notify_reviewers(self, notice: ReviewNotice) -> NoticeResult:
        pending = notice.pending
        link = self._ui_url_for.format(task_id=notice.task_id) if self._ui_url_for else ""
        text = (
            f"Task {notice.task_id} step {pending.step} awaits review by {pending.tier} "
            f"({', '.join(pending.reviewers)}) until {pending.deadline_at.isoformat()}: "
            f"{pending.summary}. Reason: {pending.reason}."
        )
        if self._webhook_url is None:
            activity.logger.info("review needed: %s %s", text, link)
            return NoticeResult(delivered=True, detail="logged")
        payload = {
            "text": text,
            "task_id": notice.task_id,
            "link": link,
            "pending": json.loads(pending.model_dump_json()),
        }
        try:
            status = await asyncio.to_thread(self._post, json.dumps(payload).encode())
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise ApplicationError(
                f"review webhook failed: {error}", type="WebhookFailed"
            ) from error
        return NoticeResult(delivered=True, detail=f"webhook answered HTTP {status}")
