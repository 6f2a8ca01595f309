"""The reviewers' inbox: server-rendered pages over the same gateway, no front-end build.

Login: the reviewer pastes their bearer token once; it is kept in a cookie (``HttpOnly``: no
script reads it; ``SameSite=Strict``: no other site's page or form sends it; ``Secure`` over
HTTPS; path ``/inbox``: the JSON API never accepts it). The gateway keeps no sessions, so the
cookie holds the token itself, and logging out is deleting it (revoking a token is removing its
hash from the settings).

CSRF: every form post must come from this origin: besides the ``SameSite=Strict`` cookie, the
``Origin`` header (or, lacking it, ``Referer``) must name the host the request came to. Both
are set by browsers and cannot be forged by a page; together they are enough without tokens in
forms. A page that lands from another site (a link in a chat) arrives without the cookie, as
Strict means; the login page says so and the next click carries it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus

from handrail.contracts import PendingReview, Trace
from handrail.errors import HandrailError, NoWorkerError, describe_validation_error
from handrail.http import forms
from handrail.http.auth import COOKIE_NAME, Principal
from handrail.http.errors import ApiError, as_api_error
from handrail.http.gateway import Gateway, gateway_of
from handrail.http.models import ReviewRequest
from handrail.http.reviews import decide
from handrail.http.tasks import TaskId

router = APIRouter(prefix="/inbox", include_in_schema=False)
Shared = Annotated[Gateway, Depends(gateway_of)]

COOKIE_MAX_AGE: Final = 8 * 3600  # a working day; then paste the token again
MAX_FORM_BYTES: Final = 256 * 1024
POLL_MILLISECONDS: Final = 1500
_VERDICT_WORDS: Final = {
    "approve": "approved",
    "edit": "edited and approved",
    "reject": "rejected",
    "answer": "answered",
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


def _when(moment: datetime) -> str:
    """``in 59 min`` / ``3 min ago``, for deadlines and requests."""
    seconds = (moment - datetime.now(UTC)).total_seconds()
    span = abs(seconds)
    text = (
        f"{span:.0f} s"
        if span < 90
        else f"{span / 60:.0f} min"
        if span < 5400
        else f"{span / 3600:.1f} h"
    )
    return f"in {text}" if seconds >= 0 else f"{text} ago"


_templates.filters["when"] = _when
_templates.filters["tojson_pretty"] = lambda value: json.dumps(
    value, indent=2, ensure_ascii=False, default=str
)


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(poll_ms=POLL_MILLISECONDS, **context)
    return HTMLResponse(html, status_code=status)


def _reviewer(request: Request, gateway: Gateway) -> Principal | None:
    token = request.cookies.get(COOKIE_NAME)
    principal = gateway.tokens.identify(token) if token else None
    return principal if principal is not None and principal.kind == "reviewer" else None


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/inbox/login", status_code=303)


def same_origin(request: Request) -> None:
    """Refuse a form post that another site's page made (see the module docstring)."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("host", "")
    if not source or source == "null" or urllib.parse.urlsplit(source).netloc != host:
        raise ApiError(403, "CrossOrigin", "this form must be sent from the inbox's own pages")


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        raise ApiError(415, "UnsupportedMediaType", "send the inbox's own form")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ApiError(413, "TooLarge", "the form is too large")
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


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
    decision = next((step.decision for step in trace.steps if step.index + 1 == pending.step), None)
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


def _decision(card_fields: list[forms.FormField], form: dict[str, str]) -> ReviewRequest:
    """The posted form as the API's ``ReviewRequest``; ``ApiError`` 422 naming the field."""
    verdict = form.get("verdict", "")
    body: dict[str, Any] = {
        "step": form.get("step", ""),
        "verdict": verdict,
        "comment": form.get("comment", "").strip(),
        "fingerprint": form.get("fingerprint") or None,
    }
    try:
        if verdict == "edit":
            body["arguments"] = forms.arguments_from_form(card_fields, form)
        if verdict == "answer":
            body["answer"] = form.get("answer", "").strip() or None
        return ReviewRequest.model_validate(body)
    except ValueError as error:
        message = (
            describe_validation_error("decision", error)
            if isinstance(error, ValidationError)
            else f"invalid decision: {error}"
        )
        raise ApiError(422, "InvalidRequest", message) from None


@router.post("/tasks/{task_id}/decide")
async def decide_form(request: Request, task_id: TaskId, gateway: Shared) -> Response:
    same_origin(request)
    reviewer = _reviewer(request, gateway)
    if reviewer is None:
        return _login_redirect()
    form = await _form(request)
    tool = form.get("tool", "")
    shown = json.loads(form.get("shown_arguments") or "{}")
    fields = forms.form_fields(forms.schema_for(tool, await gateway.schema(tool)), shown)
    try:
        decision = _decision(fields, form)
        if decision.verdict == "edit" and decision.arguments == shown:
            raise ApiError(422, "InvalidRequest", "the edit changes nothing: approve instead")
        done = await decide(gateway, task_id, reviewer, decision)
    except (ApiError, HandrailError) as failure:
        error = as_api_error(failure)
        if error is None:
            raise
        return await _task_page(request, gateway, task_id, reviewer, error=error)
    if form.get("back") == "list":
        query = urllib.parse.urlencode({"decided": done.verdict, "task": task_id})
        return RedirectResponse(f"/inbox?{query}", status_code=303)
    return RedirectResponse(
        f"/inbox/tasks/{urllib.parse.quote(task_id)}?decided={done.verdict}", status_code=303
    )


@router.get("/login")
async def login_page(request: Request, gateway: Shared) -> Response:
    if _reviewer(request, gateway) is not None:
        return RedirectResponse("/inbox", status_code=303)
    return page("login.html", error="")


@router.post("/login")
async def login(request: Request, gateway: Shared) -> Response:
    same_origin(request)
    token = (await _form(request)).get("token", "").strip()
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


@router.post("/logout")
async def logout(request: Request) -> Response:
    same_origin(request)
    response = RedirectResponse("/inbox/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/inbox", httponly=True, samesite="strict")
    return response
