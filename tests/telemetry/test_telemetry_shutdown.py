"""Flushing on the way out: ``Telemetry.shutdown`` exports everything and can be called again,
a process that never calls it still exports at exit, and so does a worker stopped by SIGTERM;
``starter.py start`` flushes the client span that roots the task's trace."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient, connect_temporal
from handrail.contracts import TaskResult
from handrail.settings import HandrailSettings
from handrail.telemetry.core import Telemetry
from handrail.testing.scripted_model import ScriptedModelServer
from tests.telemetry.test_telemetry_otlp import TASK, OtlpReceiver, lookup_then_answer

ROOT = Path(__file__).resolve().parents[2]
# Long enough for a worker to start and run one task on a loaded CI machine; only a hang ever
# waits this long.
PROCESS_DEADLINE_SECONDS = 120


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def exported(settings: HandrailSettings, receiver: OtlpReceiver) -> HandrailSettings:
    create_store(store_db_path(settings))
    return settings.model_copy(update={"otlp_endpoint": receiver.url})


def test_shutdown_flushes_every_provider_and_can_be_called_again(
    exported: HandrailSettings, receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = Telemetry.from_settings(exported)
    with telemetry.tracer.start_as_current_span("work"):
        telemetry.task_metrics().tasks.add(1, {"handrail.status": "answered"})

    telemetry.shutdown()
    assert [s.name for s in receiver.spans] == ["work"]
    assert receiver.counter("handrail.tasks") == {(("handrail.status", "answered"),): 1}

    # The worker calls it on every exit path, and the atexit backstop may call it again.
    caplog.set_level(logging.WARNING)
    telemetry.shutdown()
    assert [r.getMessage() for r in caplog.records] == []


async def _run_python(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), PROCESS_DEADLINE_SECONDS)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def _environment(settings: HandrailSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(
        HANDRAIL_OTLP_ENDPOINT=settings.otlp_endpoint or "",
        HANDRAIL_TEMPORAL_ADDRESS=settings.temporal_address,
        HANDRAIL_TASK_QUEUE=settings.task_queue,
        HANDRAIL_DATA_DIR=str(settings.data_dir),
        HANDRAIL_EMBEDDED_SERVER="false",
        OPENAI_BASE_URL=settings.openai_base_url or "",
        OPENAI_API_KEY="sk-subprocess",
    )
    return env


async def test_telemetry_from_settings_flushes_at_interpreter_exit(
    exported: HandrailSettings, receiver: OtlpReceiver
) -> None:
    """The atexit backstop: a process that never calls shutdown still exports its points."""
    script = (
        "from handrail.settings import HandrailSettings\n"
        "from handrail.telemetry.core import Telemetry\n"
        "telemetry = Telemetry.from_settings(HandrailSettings(_env_file=None))\n"
        "telemetry.task_metrics().tasks.add(1, {'handrail.status': 'answered'})\n"
    )
    code, stderr = await _run_python(_environment(exported), "-c", script)
    assert code == 0, stderr
    assert receiver.counter("handrail.tasks") == {(("handrail.status", "answered"),): 1}


async def test_a_worker_stopped_by_sigterm_exports_the_tasks_it_finished(
    exported: HandrailSettings, model_server: ScriptedModelServer, receiver: OtlpReceiver
) -> None:
    """Metrics go out every 60 s; a task finished just before SIGTERM is counted only if the
    worker flushes on its way out."""
    model_server.brain = lookup_then_answer()
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        cwd=ROOT,
        env=_environment(exported),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        started = await asyncio.wait_for(_until_serving(worker), PROCESS_DEADLINE_SECONDS)
        assert started, "the worker exited before serving"
        handle = await (await HandrailClient.connect(exported)).start_task(TASK)
        result = await asyncio.wait_for(handle.result(), PROCESS_DEADLINE_SECONDS)
        assert result.status == "answered"
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), PROCESS_DEADLINE_SECONDS)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    tasks = receiver.counter("handrail.tasks")
    assert tasks == {(("handrail.profile", "store_actions"), ("handrail.status", "answered")): 1}, (
        stderr.decode()[-2000:]
    )


async def _until_serving(worker: asyncio.subprocess.Process) -> bool:
    """Read the worker's log until it says it serves its task queue; False if it exits first."""
    assert worker.stderr is not None
    async for line in worker.stderr:
        if b"worker on task queue" in line:
            return True
    return False


async def test_a_task_started_with_starter_py_is_one_trace(
    exported: HandrailSettings, model_server: ScriptedModelServer, receiver: OtlpReceiver
) -> None:
    """``starter.py start`` connects with the settings' telemetry and flushes it as it exits: its
    client span is the root of the task's trace, which the worker's spans join through
    Temporal's headers (without it, each activity was a root of its own)."""
    model_server.brain = lookup_then_answer()
    task_id = f"task-trace-{uuid.uuid4().hex[:8]}"
    telemetry = Telemetry.from_settings(exported)
    try:
        client = await connect_temporal(exported, telemetry)
        async with running_worker(client, exported, telemetry=telemetry):
            code, stderr = await _run_python(
                _environment(exported),
                "starter.py",
                "start",
                "--input",
                json.dumps({**TASK, "task_id": task_id}),
            )
            assert code == 0, stderr
            result = await client.get_workflow_handle(task_id, result_type=TaskResult).result()
            assert result.status == "answered"
    finally:
        telemetry.shutdown()

    names = {s.name for s in receiver.spans}
    assert {"RunWorkflow:AgentWorkflow", "RunActivity:decide", "chat gpt-4o-mini"} <= names
    assert len({s.trace_id for s in receiver.spans}) == 1, sorted(names)
    assert [s.name for s in receiver.spans if not s.parent_span_id] == [
        "StartWorkflow:AgentWorkflow"
    ]
