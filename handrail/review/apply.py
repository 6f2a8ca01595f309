"""Applying a signed review link: verify, consume once, send the decision the link carries.

The decision sent through the ``review`` update takes everything from the signed link: the
reviewer it was made for, the step, the verdict and the proposal's fingerprint. Nothing from
the request that opened it counts, so the link is the whole authority, and the workflow's
validator still refuses it when the proposal it was made for is no longer what is pending
(``ReviewFingerprintMismatch``), the step was decided (``ReviewStale``), or its reviewer may
not decide at the pending tier (``ReviewUnauthorised``).

Single use without losing a click. The link is consumed before the update is sent (of two
clicks at once exactly one goes on) and released whenever the task did not take the decision:
Temporal unreachable, or no answer within the timeout (a worker that stopped). Releasing can
never let one link decide twice: the update's id is the link's, so a retried click joins the
first one's update, or gets its receipt, and the workflow counts one decision per step anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from pydantic import SecretStr
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from handrail.client.core import HandrailClient
from handrail.contracts import ReviewDecision, ReviewReceipt
from handrail.errors import ErrorType, ReviewRefusedError
from handrail.review.links import LinkClaims, LinkKeys, LinkUsedError, verify_link
from handrail.review.used_links import UsedLinks
from handrail.storage.engine import StateDatabase

LINK_COMMENT = "decided with a signed review link"
"""The comment recorded with a link's decision: how it was made, in the trace and the ledger."""


class DecisionTimeoutError(TimeoutError):
    """The task did not confirm a link's decision in time; the link was released."""

    def __init__(self, task_id: str, seconds: float | None) -> None:
        within = f" within {seconds:g} s" if seconds is not None else ""
        super().__init__(f"task {task_id} did not confirm the decision{within}")
        self.task_id = task_id
        self.seconds = seconds


def decision_of(claims: LinkClaims, comment: str = LINK_COMMENT) -> ReviewDecision:
    """The decision a verified link stands for."""
    return ReviewDecision(
        reviewer=claims.reviewer,
        step=claims.step,
        verdict=claims.verdict,
        fingerprint=claims.fingerprint,
        comment=comment,
    )


def used_already(claims: LinkClaims) -> LinkUsedError:
    """The refusal of a link that decided before."""
    return LinkUsedError(
        f"this review link was used already (step {claims.step} of {claims.task_id}, "
        f"{claims.verdict} as {claims.reviewer}): each link decides once"
    )


async def apply_link(
    handrail: HandrailClient,
    used: UsedLinks | StateDatabase,
    secret: LinkKeys | SecretStr | str | Sequence[SecretStr | str],
    token: str,
    *,
    now: datetime | None = None,
    timeout: float | None = None,
) -> ReviewReceipt:
    """Decide the step a link names, once.

    Raises the ``handrail.review.links`` errors for a link that is malformed, forged, expired
    (``verify_link``) or used before (``LinkUsedError``), and ``ReviewRefusedError`` (with
    its ``error_type``) when the task refuses the decision or is not running any more
    (``ReviewStale``); the link then stays used, since the same decision would be refused
    again. If the decision could not be delivered (Temporal unreachable), the use is released
    so that the reviewer can retry; so it is when the task does not confirm it within
    ``timeout`` seconds, and ``DecisionTimeoutError`` says so.
    """
    claims = verify_link(secret, token, now)
    store = used if isinstance(used, UsedLinks) else UsedLinks(used)
    if not await store.consume(claims, now):
        raise used_already(claims)
    try:
        # The update's id is the link's: a click retried after a timeout joins the decision
        # the first click left with the server (or gets its receipt), rather than a second one.
        update = handrail.review(
            claims.task_id, decision_of(claims), update_id=f"link-{claims.link_id}"
        )
        return await asyncio.wait_for(update, timeout)
    except ReviewRefusedError:
        raise
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # Either, by who noticed first: asyncio's timer or the SDK's cancelled RPC.
        await store.release(claims.link_id)
        raise DecisionTimeoutError(claims.task_id, timeout) from None
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            await store.release(claims.link_id)
            raise
        # Not a hiccup: the task finished (or never was), so no later click can decide it.
        raise ReviewRefusedError(
            f"review of {claims.task_id} refused: the task is not running (it finished, or "
            "there is no such task)",
            ErrorType.REVIEW_STALE,
        ) from None
    except BaseException:
        await store.release(claims.link_id)
        raise
