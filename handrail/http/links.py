"""``/links/{token}``: the page a signed review link opens (``handrail.review.links``).

GET only shows what the link would decide (mail scanners and chat unfurlers fetch links: a GET
must never decide); the reviewer's click on the page POSTs it, and ``apply_link`` verifies,
consumes it once and sends the decision through the ``review`` update, where the workflow
still checks the step, the tier and the proposal's fingerprint. The link itself is the
authority (it names its reviewer), so no login is needed; the post is still checked for this
origin like every other form.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from handrail.errors import HandrailError
from handrail.http.errors import ApiError, as_api_error, decision_timeout
from handrail.http.gateway import Gateway, gateway_of
from handrail.http.inbox import card_for, page, same_origin
from handrail.review.apply import DecisionTimeoutError, apply_link, used_already
from handrail.review.links import (
    BadLinkSignatureError,
    LinkClaims,
    LinkError,
    LinkExpiredError,
    LinkKeys,
    LinksDisabledError,
    LinkUsedError,
    verify_link,
)
from handrail.review.used_links import UsedLinks

router = APIRouter(prefix="/links", include_in_schema=False)
Shared = Annotated[Gateway, Depends(gateway_of)]
Token = Annotated[str, Path(min_length=1, max_length=4096)]

# A link signed with no key this gateway knows (tampered, swapped payload, foreign key) is
# forbidden, not merely malformed: the README promises 403, and it is an attack, not a typo.
_LINK_STATUS: Final = {
    BadLinkSignatureError: 403,
    LinkExpiredError: 410,
    LinkUsedError: 409,
    LinksDisabledError: 404,
}
# The token is in the URL: no cache keeps the page, and no link on it passes the URL on.
_PRIVATE: Final = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _private(response: HTMLResponse) -> HTMLResponse:
    response.headers.update(_PRIVATE)
    return response


def _keys(gateway: Gateway) -> LinkKeys:
    keys = LinkKeys.from_settings(gateway.settings)
    if keys is None:
        raise LinksDisabledError("review links are disabled here (no HANDRAIL_LINK_SECRET)")
    return keys


def _refused(error: LinkError) -> HTMLResponse:
    status = next((s for kind, s in _LINK_STATUS.items() if isinstance(error, kind)), 400)
    return _private(
        page("link.html", status=status, claims=None, card=None, error=str(error), done="")
    )


async def _confirmation(
    gateway: Gateway,
    claims: LinkClaims,
    *,
    status: int = 200,
    error: str = "",
    look: bool = True,
) -> HTMLResponse:
    """The link's page; with ``look``, beside the proposal pending now (not after a timeout:
    the trace query would wait for the same missing worker)."""
    card = None
    # An unknown or workerless task shows no proposal; the decision's own refusal says why.
    with contextlib.suppress(HandrailError):
        trace = await gateway.handrail.get_trace(claims.task_id) if look else None
        card = await card_for(gateway, claims.task_id, trace) if trace is not None else None
    changed = card is not None and (
        card.pending.step != claims.step or card.pending.fingerprint != claims.fingerprint
    )
    return _private(
        page(
            "link.html",
            status=status,
            claims=claims,
            card=card,
            changed=changed,
            error=error,
            done="",
        )
    )


async def _can_decide(gateway: Gateway, used: UsedLinks, claims: LinkClaims) -> None:
    """Raise why the task cannot take a decision now (ended, no worker, gone), before the link
    is consumed; but a link used already is refused as used, whatever its task did since. The
    click that used it often let the task run to its end (an approval does), so "the task ended"
    would send the reviewer back to a page with the confirm button on it, for nothing."""
    try:
        await gateway.running_with_worker(claims.task_id)
    except (ApiError, HandrailError):
        if await used.is_used(claims.link_id):
            raise used_already(claims) from None
        raise


@router.get("/{token}")
async def show_link(token: Token, gateway: Shared) -> Response:
    try:
        claims = verify_link(_keys(gateway), token)
    except LinkError as error:
        return _refused(error)
    if await _used(gateway, claims):
        # Said at once, with no confirm button that could only be refused: 200, a page that
        # shows, as opening any genuine link does.
        used = str(used_already(claims))
        return _private(page("link.html", claims=None, card=None, error=used, done=""))
    return await _confirmation(gateway, claims)


async def _used(gateway: Gateway, claims: LinkClaims) -> bool:
    """Whether the link decided already; False when the state database cannot say now (the
    page then shows as before, and pressing it is refused if it was used: ``consume``
    arbitrates)."""
    try:
        return await UsedLinks(gateway.state).is_used(claims.link_id)
    except (HandrailError, SQLAlchemyError):
        return False


@router.post("/{token}")
async def use_link(request: Request, token: Token, gateway: Shared) -> Response:
    same_origin(request)
    keys = _keys(gateway) if gateway.settings.link_secret else None
    if keys is None:
        return _refused(LinksDisabledError("review links are disabled here"))
    try:
        claims = verify_link(keys, token)
    except LinkError as error:
        return _refused(error)
    try:
        used = UsedLinks(gateway.state)  # the app's pool: nothing to close here
        await _can_decide(gateway, used, claims)
        receipt = await apply_link(
            gateway.handrail, used, keys, token, timeout=gateway.review_timeout
        )
    except LinkError as error:
        return _refused(error)
    except DecisionTimeoutError as error:
        late = decision_timeout(claims.task_id, error.seconds)
        message = f"{late.message}. This link was not used up: you can press it again."
        return await _confirmation(gateway, claims, status=late.status, error=message, look=False)
    except Exception as error:
        known = as_api_error(error)  # 409/503 before the update, refusals, state database
        if known is None:
            raise
        return await _confirmation(gateway, claims, status=known.status, error=known.message)
    done = f"Recorded: {receipt.verdict} of step {receipt.step} as {claims.reviewer}."
    return _private(page("link.html", claims=claims, card=None, error="", done=done))
