"""The reviewers' inbox: server-rendered pages over the same gateway, no front-end build.

Login: the reviewer pastes their bearer token once; it is kept in a cookie (``HttpOnly``: no
script reads it; ``SameSite=Strict``: no other site's page or form sends it; ``Secure`` over
HTTPS; path ``/inbox``: the JSON API never accepts it). The gateway keeps no sessions, so the
cookie holds the token itself, and logging out is deleting it (revoking a token is removing its
hash from the settings).

CSRF: every form post must come from this origin: besides the ``SameSite=Strict`` cookie, the
browser's ``Sec-Fetch-Site`` must say ``same-origin``, or (a browser without it) the ``Origin``
header (lacking it, ``Referer``) must name the host the request came to. All are set by
browsers and cannot be forged by a page; together they are enough without tokens in forms. A
page that lands from another site (a link in a chat) arrives without the cookie, as Strict
means; the login page says so and the next click carries it.

Model and tool text is untrusted on every page: the templates let Jinja escape it for where it
lands (text and quoted attributes by autoescape; URLs by ``segment`` and ``http_url``; data for
the script only as a ``<script type="application/json">`` block), and the app's headers
(``handrail.http.app``) forbid inline script and style as a second wall.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus

from handrail.contracts import PendingReview, Trace
from handrail.errors import ErrorType, HandrailError, NoWorkerError, describe_validation_error
from handrail.http import forms
from handrail.http.auth import COOKIE_NAME, Principal
from handrail.http.errors import ApiError, as_api_error
from handrail.http.gateway import Gateway, gateway_of
from handrail.http.models import ReviewRequest
from handrail.http.pages import page as page  # links.py renders its page with it too
from handrail.http.reviews import decide
from handrail.http.tasks import TaskId

router = APIRouter(prefix="/inbox", include_in_schema=False)
Shared = Annotated[Gateway, Depends(gateway_of)]

COOKIE_MAX_AGE: Final = 8 * 3600  # a working day; then paste the token again
MAX_FORM_BYTES: Final = 256 * 1024
"""The largest form post read: 413 past it, counted by Starlette's limiter as the body
arrives (which answers in plain text when the declared ``Content-Length`` is over)."""
_VERDICT_WORDS: Final = {
    "approve": "approved",
    "edit": "edited and approved",
    "reject": "rejected",
    "answer": "answered",
}


def _reviewer(request: Request, gateway: Gateway) -> Principal | None:
    token = request.cookies.get(COOKIE_NAME)
    principal = gateway.tokens.identify(token) if token else None
    return principal if principal is not None and principal.kind == "reviewer" else None


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/inbox/login", status_code=303)


def same_origin(request: Request) -> None:
    """Refuse a form post that another site's page made (see the module docstring).

    ``Sec-Fetch-Site`` first: a page whose ``Referrer-Policy`` is ``no-referrer`` (a review
    link's) posts with ``Origin: null``, which alone would be refused."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site == "same-origin":
        return
    if fetch_site is not None and fetch_site != "none":
        raise ApiError(403, "CrossOrigin", "this form must be sent from the inbox's own pages")
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("host", "")
    if not source or source == "null" or urllib.parse.urlsplit(source).netloc != host:
        raise ApiError(403, "CrossOrigin", "this form must be sent from the inbox's own pages")


def urlencoded(request: Request) -> None:
    """Refuse (415) any body but the urlencoded one the inbox's pages post: a multipart body
    (files) has no business here. A dependency, so it runs before the form model's own
    validation would answer."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ApiError(415, "UnsupportedMediaType", "send the inbox's own form")


# The order of a form post's checks: its origin (403), then its kind (415). Its size (413) is
# checked first of all, by FastAPI, as the body is read.
FORM_POST: Final = [Depends(same_origin), Depends(urlencoded)]
Posted = Annotated[forms.DecisionForm, Form()]


@dataclass
class Card:
    """A step awaiting review, with everything the page shows about it."""

    task_id: str
    pending: PendingReview
    goal: str
    rationale: str
    confidence: float | None
    amount: Any
    ui_url: str
    fields: list[forms.FormField] = field(default_factory=list)

    @property
    def raw_arguments(self) -> str:
        return json.dumps(self.pending.arguments, indent=2, ensure_ascii=False)


async def card_for(gateway: Gateway, task_id: str, trace: Trace) -> Card | None:
    pending = trace.pending_review
    if pending is None:
        return None
    decision = next((step.decision for step in trace.steps if step.step == pending.step), None)
    schema = forms.schema_for(pending.tool, await gateway.schema(pending.tool))
    return Card(
        task_id=task_id,
        pending=pending,
        goal=trace.goal,
        rationale=decision.rationale if decision else "",
        confidence=decision.confidence if decision else None,
        amount=await gateway.amount(pending.tool, pending.arguments),
        ui_url=gateway.settings.ui_url(task_id),
        fields=forms.form_fields(schema, pending.arguments),
    )


def _state(*parts: Any) -> str:
    """A short digest of what a fragment shows: the page swaps it in only when it changed."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


async def _cards(gateway: Gateway, reviewer: Principal) -> list[Card]:
    """The pending reviews ``reviewer`` may decide (what their tier does not allow is someone
    else's work, and the list must not show it)."""
    cards = []
    for task_id, listed in await gateway.handrail.pending_reviews(task_queue=gateway.task_queue):
        if reviewer.name not in listed.reviewers:
            continue
        try:
            card = await card_for(gateway, task_id, await gateway.handrail.get_trace(task_id))
        except HandrailError:  # it ended or lost its worker since it was listed
            continue
        # The trace is newer than the listing: it has the last word on who may decide.
        if card is not None and reviewer.name in card.pending.reviewers:
            cards.append(card)
    return cards


@router.get("")
async def inbox(request: Request, gateway: Shared, fragment: bool = False) -> Response:
    reviewer = _reviewer(request, gateway)
    if reviewer is None:
        return Response(status_code=401) if fragment else _login_redirect()
    cards = await _cards(gateway, reviewer)
    state = _state([(c.task_id, c.pending.step, c.pending.fingerprint) for c in cards])
    context: dict[str, Any] = {"cards": cards, "state": state, "reviewer": reviewer.name}
    if fragment:
        return page("_pending.html", **context)
    decided = request.query_params.get("decided", "")
    flash = ""
    if decided in _VERDICT_WORDS:
        flash = f"You {_VERDICT_WORDS[decided]} {request.query_params.get('task', 'the task')}."
    return page("inbox.html", flash=flash, ui_url=gateway.settings.ui_url(""), **context)


async def _task_page(
    request: Request,
    gateway: Gateway,
    task_id: str,
    reviewer: Principal,
    *,
    fragment: bool = False,
    error: ApiError | None = None,
) -> Response:
    description = await gateway.describe(task_id)
    problem = ""
    try:
        trace = await gateway.handrail.get_trace(task_id)
    except NoWorkerError as no_worker:
        trace, problem = None, str(no_worker)
    card = await card_for(gateway, task_id, trace) if trace is not None else None
    running = description.status == WorkflowExecutionStatus.RUNNING
    state = _state(
        trace.status if trace else None,
        len(trace.steps) if trace else 0,
        card.pending.fingerprint if card else None,
        running,
    )
    context: dict[str, Any] = {
        "task_id": task_id,
        "trace": trace,
        "card": card,
        "running": running,
        "problem": problem,
        "state": state,
        "reviewer": reviewer.name,
        "ui_url": gateway.settings.ui_url(task_id),
        "changes": forms.changes,
    }
    if fragment:
        return page("_task.html", **context)
    decided = request.query_params.get("decided", "")
    flash = f"You {_VERDICT_WORDS[decided]} this step." if decided in _VERDICT_WORDS else ""
    return page(
        "task.html",
        status=error.status if error else 200,
        flash=flash,
        error=error.message if error else "",
        **context,
    )


@router.get("/tasks/{task_id}")
async def task_page(
    request: Request, task_id: TaskId, gateway: Shared, fragment: bool = False
) -> Response:
    reviewer = _reviewer(request, gateway)
    if reviewer is None:
        return Response(status_code=401) if fragment else _login_redirect()
    return await _task_page(request, gateway, task_id, reviewer, fragment=fragment)


def _verdict(form: forms.DecisionForm) -> ReviewRequest:
    """The posted form as the API's ``ReviewRequest``, arguments aside; 422 naming the field."""
    body: dict[str, Any] = {
        "step": form.step,
        "verdict": form.verdict,
        "comment": form.comment.strip(),
        "fingerprint": form.fingerprint or None,
    }
    if form.verdict == "answer":
        body["answer"] = form.answer.strip() or None
    try:
        return ReviewRequest.model_validate(body)
    except ValidationError as error:
        raise ApiError(
            422, "InvalidRequest", describe_validation_error("decision", error)
        ) from None


async def _edited(
    gateway: Gateway, task_id: str, decision: ReviewRequest, form: forms.DecisionForm
) -> ReviewRequest:
    """``decision`` with the edit's arguments, read from the form's fields for the proposal
    pending now, re-read from the task's trace: the form's own copy of what was shown is never
    trusted. The edit is bound to that proposal's fingerprint, so it decides what was shown."""
    card = await card_for(gateway, task_id, await gateway.handrail.get_trace(task_id))
    if card is None or card.pending.step != decision.step:
        raise ApiError(
            409,
            ErrorType.REVIEW_STALE,
            f"step {decision.step} of task {task_id} no longer awaits review",
        )
    shown = card.pending.fingerprint
    if decision.fingerprint is not None and shown is not None and decision.fingerprint != shown:
        raise ApiError(
            409,
            ErrorType.REVIEW_FINGERPRINT_MISMATCH,
            "the proposal changed since this page was shown: review what it proposes now",
        )
    try:
        arguments = forms.arguments_from_form(card.fields, form.values())
    except ValueError as error:
        raise ApiError(422, "InvalidRequest", f"invalid decision: {error}") from None
    if arguments == card.pending.arguments:
        raise ApiError(422, "InvalidRequest", "the edit changes nothing: approve instead")
    return decision.model_copy(
        update={"arguments": arguments, "fingerprint": decision.fingerprint or shown}
    )


@router.post("/tasks/{task_id}/decide", dependencies=FORM_POST, max_body_size=MAX_FORM_BYTES)
async def decide_form(request: Request, task_id: TaskId, gateway: Shared, form: Posted) -> Response:
    reviewer = _reviewer(request, gateway)
    if reviewer is None:
        return _login_redirect()
    try:
        decision = _verdict(form)
        if decision.verdict == "edit":
            decision = await _edited(gateway, task_id, decision, form)
        done = await decide(gateway, task_id, reviewer, decision)
    except (ApiError, HandrailError) as failure:
        error = as_api_error(failure)
        if error is None:
            raise
        return await _task_page(request, gateway, task_id, reviewer, error=error)
    if form.back == "list":
        query = urllib.parse.urlencode({"decided": done.verdict, "task": task_id})
        return RedirectResponse(f"/inbox?{query}", status_code=303)
    return RedirectResponse(
        f"/inbox/tasks/{urllib.parse.quote(task_id, safe='')}?decided={done.verdict}",
        status_code=303,
    )


@router.get("/login")
async def login_page(request: Request, gateway: Shared) -> Response:
    if _reviewer(request, gateway) is not None:
        return RedirectResponse("/inbox", status_code=303)
    return page("login.html", error="")


@router.post("/login", dependencies=FORM_POST, max_body_size=MAX_FORM_BYTES)
async def login(
    request: Request, gateway: Shared, form: Annotated[forms.LoginForm, Form()]
) -> Response:
    token = form.token.strip()
    principal = gateway.tokens.identify(token) if token else None
    if principal is None or principal.kind != "reviewer":
        why = "That token is not a reviewer's token here." if token else "Paste your token."
        return page("login.html", status=401, error=why)
    response = RedirectResponse("/inbox", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/inbox",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", dependencies=[Depends(same_origin)])
async def logout() -> Response:
    response = RedirectResponse("/inbox/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/inbox", httponly=True, samesite="strict")
    return response
