"""What the inbox page tests share: one worker and one gateway per test module (module-scoped,
on the session's loop), a scripted model that proposes hostile text on request, and a reader
of the HTML the inbox serves (stdlib ``html.parser``: what a browser's parser would build).

Hostile tasks are recognised by ``HOSTILE_MARK`` in their goal; every other goal goes to the
store clerk, as in the rest of the suite.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from examples.store.clerk import StoreClerk
from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker, store_settings
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import (
    Reply,
    ScriptedModelServer,
    ToolCallReply,
    messages_of,
    text_of,
)
from tests.conftest import TEST_API_KEY
from tests.http.test_http_api import SERVICE_TOKEN, Api, bearer, serve_gateway
from tests.review_helpers import signed_link

LINK_SECRET: Final = "inbox-link-secret-for-tests-" + "0123456789abcdef"
HOSTILE_MARK: Final = "[hostile]"
# Every way model text has broken out of a page: a double-quoted attribute, a single-quoted
# one, an element, a script block, a textarea, a URL, a template.
HOSTILE: Final = (
    'x" onfocus="alert(\'attr\')" autofocus x=" '
    "' onmouseover='alert(1)' "
    '"><img src=x onerror=alert(2) id=injected-img> '
    "</script><script id=injected-script>alert(3)</script> "
    "</textarea><b id=injected-b>bold</b> "
    "javascript:alert(4) {{ 7*7 }}"
)
HOSTILE_TASK_ID_TAIL: Final = "\"'><img src=x onerror=alert(5) id=injected-id>"


class PageBrain:
    """The store clerk, except for goals carrying ``HOSTILE_MARK``: those propose a refund of
    80.00 whose reason and rationale are ``HOSTILE``, then answer with ``HOSTILE``."""

    def __init__(self) -> None:
        self.clerk = StoreClerk()

    def __call__(self, request: dict[str, Any]) -> Reply:
        messages = messages_of(request)
        goal = next((text_of(m.get("content")) for m in messages if m.get("role") == "user"), "")
        if HOSTILE_MARK not in goal:
            return self.clerk(request)
        if messages and messages[-1].get("role") == "tool":
            return ToolCallReply(
                "final_answer", {"answer": HOSTILE, "rationale": HOSTILE, "confidence": 0.3}
            )
        arguments = {"order_id": 1003, "amount": "80.00", "reason": HOSTILE}
        return ToolCallReply("issue_refund", {**arguments, "rationale": HOSTILE, "confidence": 0.9})


@pytest.fixture(scope="module")
def page_settings(
    tmp_path_factory: pytest.TempPathFactory,
    model_server: ScriptedModelServer,
    handrail_env: WorkflowEnvironment,
) -> Iterator[HandrailSettings]:
    model_server.brain = PageBrain()
    yield store_settings(
        HandrailSettings(
            _env_file=None,
            temporal_address=handrail_env.client.service_client.config.target_host,
            task_queue=f"test-page-{uuid.uuid4().hex[:10]}",
            data_dir=tmp_path_factory.mktemp("inbox") / "data",
            openai_base_url=model_server.base_url,
            openai_api_key=SecretStr(TEST_API_KEY),
            embedded_server=False,
            link_secret=SecretStr(LINK_SECRET),
        )
    )
    model_server.brain = StoreClerk()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def page_api(
    handrail_env: WorkflowEnvironment, page_settings: HandrailSettings
) -> AsyncIterator[Api]:
    """One worker and one gateway for the whole module (a worker starts in about a second)."""
    client = handrail_env.client
    create_store(store_db_path(page_settings))
    async with (
        running_worker(client, page_settings),
        serve_gateway(client, page_settings) as api,
    ):
        yield api


async def start_hostile(api: Api, *, task_id: str | None = None) -> str:
    body: dict[str, Any] = {
        "goal": f"Refund order 1003 {HOSTILE_MARK} <img src=x onerror=alert(6)> {HOSTILE}",
        "profile": "store_actions",
    }
    if task_id is not None:
        body["task_id"] = task_id
    started = await api.http.post("/tasks", json=body, headers=bearer(SERVICE_TOKEN))
    assert started.status_code == 201, started.text
    return str(started.json()["task_id"])


def link_for(task_id: str, pending: dict[str, Any]) -> str:
    return signed_link(LINK_SECRET, task_id, pending)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


class ParsedPage(HTMLParser):
    """Every element of a page with its attributes, and the text of script blocks and forms'
    fields, as a browser's HTML parser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if tag in ("script", "textarea", "option", "style"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1].tag == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].text += data

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]


def parse(html: str) -> ParsedPage:
    parsed = ParsedPage()
    parsed.feed(html)
    parsed.close()
    return parsed


def injected(page: ParsedPage) -> list[str]:
    """What the hostile text would have added to the page, were it markup: event-handler
    attributes, an ``autofocus``, the elements it names, an inline or foreign script."""
    found = []
    for element in page.elements:
        for name in element.attrs:
            if name.startswith("on") or (name == "autofocus" and element.tag != "input"):
                found.append(f"<{element.tag} {name}>")
        if element.attrs.get("id", "").startswith("injected"):
            found.append(f"<{element.tag} id={element.attrs['id']}>")
        if element.tag == "img":
            found.append("<img>")
        ours = element.attrs.get("type") == "application/json" or element.attrs.get(
            "src", ""
        ).startswith("/inbox/static/")
        if element.tag == "script" and not ours:
            found.append(f"<script {element.attrs}>{element.text[:40]}")
    return found


def form_body(form: Element, page: ParsedPage, **changes: str) -> dict[str, str]:
    """The fields a browser sends for the form that ``form`` opens (inputs, textareas and
    selects after it up to the next form), with ``changes`` applied."""
    start = page.elements.index(form)
    body: dict[str, str] = {}
    for element in page.elements[start + 1 :]:
        if element.tag == "form":
            break
        name = element.attrs.get("name")
        if not name or element.tag == "button":
            continue
        if element.tag == "textarea":
            body[name] = element.text.removeprefix("\n")
        elif element.tag == "input" and element.attrs.get("type") != "checkbox":
            body[name] = element.attrs.get("value", "")
        elif element.tag == "input" and "checked" in element.attrs:
            body[name] = "on"
    return {**body, **changes}


def artifacts() -> Path:
    folder = Path(__file__).resolve().parent.parent / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
