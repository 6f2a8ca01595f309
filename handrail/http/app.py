"""``create_app``: the gateway's ASGI app over one ``HandrailClient``, its security headers,
and the inbox's static files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handrail.client.core import HandrailClient
from handrail.http import inbox, links, reviews, tasks
from handrail.http.errors import install_error_handlers
from handrail.http.gateway import Gateway
from handrail.tools.spec import ToolSpec

STATIC_FOLDER: Final = Path(__file__).parent / "static"
# The second wall behind the templates' escaping: were model text ever to become markup, no
# inline script, handler or style runs, nothing loads from elsewhere, no form posts elsewhere,
# no <base> redirects relative URLs, and no other site frames a page to trick a click.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    # No response (JSON included) is ever sniffed into HTML or script.
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser posts forms with `Origin: null`,
    # and the inbox's CSRF check wants its own origin. Other sites get no referrer at all.
    "referrer-policy": "same-origin",
    # Pages and answers show customers' data and pending decisions: no cache (a shared proxy,
    # the browser's back button after logging out) keeps a copy.
    "cache-control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware putting ``SECURITY_HEADERS`` on every HTTP response, JSON and errors
    included; a header a route set itself (a review link's ``no-referrer``) is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name.encode(), value.encode())
                    for name, value in SECURITY_HEADERS.items()
                    if name.encode() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """What the app holds for its life (the state database's pool), closed at shutdown."""
    try:
        yield
    finally:
        gateway = app.state.gateway
        assert isinstance(gateway, Gateway)
        await gateway.aclose()


def create_app(
    handrail: HandrailClient,
    *,
    tools: Iterable[ToolSpec] = (),
    task_queue: str | None = None,
) -> FastAPI:
    """The gateway for ``handrail`` (its settings hold the reviewers' and services' token
    hashes).

    The inbox builds an edit form from each tool's argument schema and shows the money an
    action moves, from what the workers declared in the state database when they started
    (``handrail.storage.declared_tools``); a tool nobody declared is edited as raw JSON.
    ``tools``: specs to use instead of the declared ones. ``task_queue``: show and decide only
    that queue's tasks (default: the namespace's, as ``starter.py pending`` lists them).
    """
    app = FastAPI(
        title="Handrail",
        summary="Start agent tasks, follow them, and decide the steps that wait for a person.",
        version="1",
        # The interactive docs load their scripts from a CDN: not from a gateway that may run
        # offline or behind a strict content policy. The schema itself is served.
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.gateway = Gateway.build(handrail, tools=tools, task_queue=task_queue)
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    # The pages' only script and style sheet: files, so the policy above allows no inline ones.
    app.mount("/inbox/static", StaticFiles(directory=STATIC_FOLDER), name="inbox-static")
    app.include_router(tasks.router)
    app.include_router(reviews.router)
    app.include_router(inbox.router)
    app.include_router(links.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
