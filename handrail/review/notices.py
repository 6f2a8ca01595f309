"""What a review notice says: its links, and its body in Handrail's JSON or Slack's Block Kit.

Used by the ``notify_reviewers`` activity, outside the workflow: links are signed with the link
key, which must never enter workflow history (the activity's input carries the pending review,
its fingerprint included, and its result says only whether the POST was delivered).

One pair of links per reviewer the tier allows (approve, reject), each signed for that reviewer:
the identity a link records is who it was made for. Links need a fingerprint to bind to (runs
recorded before fingerprints have none: no links), a link key and the gateway's public URL.
A link ends at the tier's deadline, or after ``HANDRAIL_LINK_TTL`` if sooner: after the
deadline the next tier decides, with links of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from handrail.contracts import PendingReview, ReviewNotice
from handrail.review.links import LinkKeys, link_url, sign_link

SLACK_MAX_REVIEWERS: Final = 20
"""Reviewers with buttons in a Slack message (Slack allows 50 blocks; the rest see the UI)."""


@dataclass(frozen=True)
class ReviewerLinks:
    reviewer: str
    approve: str
    reject: str
    expires_at: datetime

    def as_json(self) -> dict[str, str]:
        return {
            "reviewer": self.reviewer,
            "approve": self.approve,
            "reject": self.reject,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class LinkMaker:
    """Signs review links for a notice: the key, where the gateway answers, how long."""

    keys: LinkKeys
    public_url: str
    ttl: timedelta

    def links_for(self, notice: ReviewNotice, now: datetime) -> list[ReviewerLinks]:
        pending = notice.pending
        if pending.fingerprint is None:
            return []
        expires_at = min(pending.deadline_at, now + self.ttl)
        if expires_at <= now:
            return []

        def url(reviewer: str, verdict: str) -> str:
            token = sign_link(
                self.keys,
                task_id=notice.task_id,
                step=pending.step,
                verdict="approve" if verdict == "approve" else "reject",
                fingerprint=pending.fingerprint or "",
                reviewer=reviewer,
                expires_at=expires_at,
            )
            return link_url(self.public_url, token)

        return [
            ReviewerLinks(name, url(name, "approve"), url(name, "reject"), expires_at)
            for name in pending.reviewers
        ]


def notice_text(notice: ReviewNotice) -> str:
    pending = notice.pending
    return (
        f"Task {notice.task_id} step {pending.step} awaits review by {pending.tier} "
        f"({', '.join(pending.reviewers)}) until {pending.deadline_at.isoformat()}: "
        f"{pending.summary}. Reason: {pending.reason}."
    )


def handrail_body(notice: ReviewNotice, ui_link: str, links: list[ReviewerLinks]) -> dict[str, Any]:
    """The ``handrail`` format: the text, the pending review as ``trace`` shows it, the UI link
    and one entry of links per reviewer (empty when links are off)."""
    return {
        "text": notice_text(notice),
        "task_id": notice.task_id,
        "link": ui_link,
        "pending": json.loads(notice.pending.model_dump_json()),
        "links": [entry.as_json() for entry in links],
    }


def _escape(text: str) -> str:
    # Slack reads &, < and > as markup (<!channel>, <url|label>): proposal text comes from the
    # model, so it is shown literally, never as a mention or a disguised link.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _button(text: str, url: str, action_id: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": _cut(text, 75)},
        "url": url,
        "action_id": action_id,
    }
    if style is not None:
        button["style"] = style
    return button


def slack_body(notice: ReviewNotice, ui_link: str, links: list[ReviewerLinks]) -> dict[str, Any]:
    """The ``slack`` format: a Block Kit message for an incoming webhook, with an approve and a
    reject button per reviewer that open the signed links (a confirmation page: opening a link
    decides nothing, so chat unfurlers and mail scanners that fetch it cannot approve)."""
    pending: PendingReview = notice.pending
    details = (
        f"*Task* `{_escape(notice.task_id)}` · step {pending.step}\n"
        f"*Proposal:* {_escape(pending.summary)}\n"
        f"*Why a person:* {_escape(pending.reason)}\n"
        f"*Tier:* {_escape(pending.tier)} · *decide by* "
        f"{pending.deadline_at:%Y-%m-%d %H:%M} UTC"
    )
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"Review: {pending.summary}", 150)},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(details, 3000)}},
    ]
    for index, entry in enumerate(links[:SLACK_MAX_REVIEWERS]):
        blocks.append(
            {
                "type": "actions",
                "block_id": f"review-{index}",
                "elements": [
                    _button(
                        f"Approve as {entry.reviewer}", entry.approve, f"approve-{index}", "primary"
                    ),
                    _button(
                        f"Reject as {entry.reviewer}", entry.reject, f"reject-{index}", "danger"
                    ),
                ],
            }
        )
    if links:
        context = (
            f"Each button is for the reviewer it names and works once, until "
            f"{links[0].expires_at:%Y-%m-%d %H:%M} UTC. Fingerprint `{pending.fingerprint}`."
        )
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    if ui_link:
        blocks.append(
            {"type": "actions", "elements": [_button("Open in Temporal UI", ui_link, "open-ui")]}
        )
    return {"text": notice_text(notice), "blocks": blocks}
