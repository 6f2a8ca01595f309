"""Run the helpdesk agent's worker: ``python -m helpdesk.worker`` from ``examples/helpdesk``.

Settings come from the environment (``HANDRAIL_*``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``; see
Handrail's README). The tickets live in ``$HANDRAIL_DATA_DIR/tickets.db``, Handrail's own state
beside them in ``handrail.db``. Start tasks with Handrail's CLI (pointed at this profile folder)
or any Temporal client::

    export HANDRAIL_PROFILES_DIRS=profiles
    handrail start --profile helpdesk --wait "Ticket 1 is solved: close it, tell the requester."
"""

from __future__ import annotations

import asyncio
import logging

from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.worker import Worker

from handrail import HandrailPlugin, HandrailSettings, OpenAIChatModel
from helpdesk import PROFILES
from helpdesk.tickets import TicketSystem
from helpdesk.tools import helpdesk_compensations, helpdesk_tools


def openai_client(settings: HandrailSettings) -> AsyncOpenAI:
    """The model endpoint from settings; close it when the worker stops."""
    key = settings.openai_api_key
    return AsyncOpenAI(
        # A local server (Ollama, vLLM) needs no key, but the client refuses to start without one.
        api_key=key.get_secret_value() if key else "no-key",
        base_url=settings.openai_base_url,
        max_retries=0,  # Temporal owns retries
        timeout=settings.llm_timeout_seconds,
    )


def build_plugin(
    settings: HandrailSettings, tickets: TicketSystem, model: AsyncOpenAI
) -> HandrailPlugin:
    """Handrail with the helpdesk's tools and profile, on an OpenAI-compatible model."""
    return HandrailPlugin(
        settings,
        tools=helpdesk_tools(tickets),
        compensations=helpdesk_compensations(tickets),
        model=OpenAIChatModel(model),
        profiles=[PROFILES],
    )


async def connect(settings: HandrailSettings, plugin: HandrailPlugin) -> Client:
    """A Temporal client with the plugin: it brings Handrail's data converter, and every worker
    built on the client inherits its workflow and activities."""
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key.get_secret_value() if api_key else None,
        plugins=[plugin],
    )


async def main() -> None:
    settings = HandrailSettings()
    if settings.openai_api_key is None and not settings.openai_base_url:
        raise SystemExit("set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (a local model server)")
    tickets = TicketSystem(settings.data_dir / "tickets.db")
    async with openai_client(settings) as model_client:
        plugin = build_plugin(settings, tickets, model_client)
        client = await connect(settings, plugin)
        logging.info("helpdesk worker on task queue %s", settings.task_queue)
        await Worker(client, task_queue=settings.task_queue).run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
