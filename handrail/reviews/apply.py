"""Applying a signed review link: verify, consume once, send the decision the link carries.

The decision sent through the ``review`` update takes everything from the signed link: the
reviewer it was made for, the step, the verdict and the proposal's fingerprint. Nothing from
the request that opened it counts, so the link is the whole authority, and the workflow's
validator still refuses it when the proposal it was made for is no longer what is pending
(``ReviewFingerprintMismatch``), the step was decided (``ReviewStale``), or its reviewer may
not decide at the pending tier (``ReviewUnauthorised``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import SecretStr
from temporalio.service import RPCError, RPCStatusCode

from handrail.client import HandrailClient
from handrail.contracts import ReviewDecision, ReviewReceipt
from handrail.errors import ErrorType, ReviewRefusedError
from handrail.reviews.links import LinkClaims, LinkKeys, LinkUsedError, verify_link
from handrail.reviews.used_links import UsedLinks
from handrail.storage.engine import StateDatabase

LINK_COMMENT = "decided with a signed review link"
"""The comment recorded with a link's decision: how it was made, in the trace and the ledger."""


def decision_of(claims: LinkClaims, comment: str = LINK_COMMENT) -> ReviewDecision:
    """The decision a verified link stands for."""
    return ReviewDecision(
        reviewer=claims.reviewer,
        step=claims.step,
        verdict=claims.verdict,
        fingerprint=claims.fingerprint,
        comment=comment,
    )


async def apply_link(
    handrail: HandrailClient,
    used: UsedLinks | StateDatabase,
    secret: LinkKeys | SecretStr | str | Sequence[SecretStr | str],
    token: str,
    *,
    now: datetime | None = None,
) -> ReviewReceipt:
    """Decide the step a link names, once.

    Raises the ``handrail.reviews.links`` errors for a link that is malformed, forged, expired
    (``verify_link``) or used before (``LinkUsedError``), and ``ReviewRefusedError`` (with
    its ``error_type``) when the task refuses the decision or is not running any more
    (``ReviewStale``); the link then stays used, since the same decision would be refused
    again. If the decision could not be delivered (Temporal unreachable, a timeout), the use is
    released so that the reviewer can retry.
    """
    claims = verify_link(secret, token, now)
    store = used if isinstance(used, UsedLinks) else UsedLinks(used)
    if not await store.consume(claims, now):
        raise LinkUsedError(
            f"this review link was used already (step {claims.step} of {claims.task_id}, "
            f"{claims.verdict} as {claims.reviewer}): each link decides once"
        )
    try:
        return await handrail.review(claims.task_id, decision_of(claims))
    except ReviewRefusedError:
        raise
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
