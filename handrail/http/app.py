"""``create_app``: the gateway's ASGI app over one ``HandrailClient``."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI

from handrail.client import HandrailClient
from handrail.http import inbox, links, reviews, tasks
from handrail.http.errors import install_error_handlers
from handrail.http.gateway import Gateway
from handrail.tools.spec import ToolSpec


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
    )
    app.state.gateway = Gateway.build(handrail, tools=tools, task_queue=task_queue)
    install_error_handlers(app)
    app.include_router(tasks.router)
    app.include_router(reviews.router)
    app.include_router(inbox.router)
    app.include_router(links.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
