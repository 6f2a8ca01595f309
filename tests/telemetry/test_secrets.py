"""Secrets never leak: the scanner finds a planted key wherever it hides (so the session guard,
``tests/secrets_guard.py``, can fail), and a real task with a real key configured leaks it
nowhere — not in history, logs at INFO, spans, the ledger or the export — while the key really
goes out on every model request and the Temporal API key really reaches the client."""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient, connect_temporal
from handrail.reports.export import export_jsonl
from handrail.settings import HandrailSettings
from handrail.storage.ledger import RunLedger, ledger_url
from handrail.telemetry.core import Telemetry
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from handrail.testing.secrets import (
    Leak,
    SecretLogHandler,
    SecretSpanProcessor,
    find_secrets,
    scan_files,
    scan_server,
    span_text,
)
from tests.conftest import TEST_API_KEY, TEST_TEMPORAL_API_KEY

# Planted on purpose, so it is not one of the session's secrets: the guard must not fail on it.
CANARY = "sk-canary-" + uuid.uuid4().hex
WATCH = {"canary": CANARY}


def _assert_named_not_shown(leaks: list[Leak]) -> None:
    for leak in leaks:
        assert CANARY not in str(leak)
        assert CANARY not in repr(leak)


# --- the scanner can fail -------------------------------------------------------------------


async def test_a_key_in_a_workflow_input_is_found_by_the_server_scan(client: Client) -> None:
    workflow_id = f"leaky-{uuid.uuid4().hex[:8]}"
    # No worker polls this queue: the input sits in the start event, which is all it takes.
    handle = await client.start_workflow(
        "AgentWorkflow",
        {"goal": "g", "context": {"note": f"key={CANARY}"}},
        id=workflow_id,
        task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
    )
    try:
        scanned, leaks = 0, list[Leak]()
        for _ in range(100):  # visibility lags the start by a moment
            scanned, leaks = await scan_server(client, WATCH, query=f"WorkflowId = '{workflow_id}'")
            if scanned:
                break
            await asyncio.sleep(0.05)
        history = await handle.fetch_history()
    finally:
        await handle.terminate("planted a secret on purpose")
    assert scanned == 1
    assert [leak.form for leak in leaks] == ["plain"]
    assert leaks[0].where == (
        f"workflow {workflow_id} run {handle.result_run_id} event 1 (WORKFLOW_EXECUTION_STARTED)"
    )
    # In the history's JSON the payload is base64: found there too, at whatever alignment.
    in_json = find_secrets([("history json", history.to_json())], WATCH)
    assert [leak.form for leak in in_json] == ["base64"]
    _assert_named_not_shown(leaks + in_json)


def test_a_key_in_a_log_record_is_found() -> None:
    handler = SecretLogHandler(WATCH)
    logger = logging.getLogger("tests.leaky")
    logger.addHandler(handler)
    try:
        logger.info("calling the model with %s", {"authorization": f"Bearer {CANARY}"})
        logger.debug("below INFO: not what the worker logs, %s", CANARY)
        try:
            raise RuntimeError(f"bad key {CANARY}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert handler.records == 2  # the DEBUG record is below the handler's level
    assert [leak.where.split(" (")[0] for leak in handler.leaks] == [
        "log record tests.leaky INFO",
        "log record tests.leaky ERROR",
    ]
    _assert_named_not_shown(handler.leaks)


def test_a_key_in_a_span_is_found() -> None:
    processor = SecretSpanProcessor(WATCH)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("clean") as span:
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.add_event("request", {"headers": f"Authorization: Bearer {CANARY}"})
    provider.shutdown()
    assert processor.spans == 2
    assert [str(leak) for leak in processor.leaks] == ["canary (plain) in span 'chat gpt-4o-mini'"]


def test_a_key_in_files_and_databases_is_found_in_every_form(tmp_path: Path) -> None:
    database = tmp_path / "handrail.db"
    with closing(sqlite3.connect(database)) as db:
        db.execute("CREATE TABLE runs (task_id TEXT, record TEXT)")
        # Padding pushes the key past the first page: in the file it spans an overflow page.
        db.execute("INSERT INTO runs VALUES ('clean', 'nothing here')")
        db.execute("INSERT INTO runs VALUES ('leaky', ?)", ("x" * 4090 + CANARY,))
        db.commit()
    files = {
        "export.jsonl": f'{{"arguments": {{"key": "{CANARY}"}}}}\n'.encode(),
        "clean.log": b"INFO all fine\n",
    }
    for shift in range(3):  # inside a larger base64 blob, at each byte alignment
        files[f"blob{shift}.b64"] = base64.b64encode(b"p" * shift + CANARY.encode() + b"!")
    files["blob.b64url"] = base64.urlsafe_b64encode(b"\xfb\xff" + CANARY.encode())
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    scanned, leaks = scan_files(sorted(tmp_path.iterdir()), WATCH)
    assert scanned == 7
    assert sorted(leak.where.removeprefix(f"{tmp_path}/") for leak in leaks) == [
        "blob.b64url",
        "blob0.b64",
        "blob1.b64",
        "blob2.b64",
        "export.jsonl",
        "handrail.db table runs row 2",
    ]
    _assert_named_not_shown(leaks)


def test_a_secret_too_short_to_scan_for_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 8"):
        find_secrets([("somewhere", "x")], {"placeholder": "x"})


# --- a real task, a real key: sent, and nowhere else ----------------------------------------


class _HeaderRecorder:
    """A pass-through HTTP proxy in front of the scripted model server that records each
    request's ``Authorization`` header (the server itself records bodies only)."""

    def __init__(self, upstream: str) -> None:
        self.authorizations: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                recorder.authorizations.append(self.headers.get("authorization", ""))
                forwarded = urllib.request.Request(
                    upstream.rstrip("/") + self.path.removeprefix("/v1"),
                    data=body,
                    headers={"content-type": self.headers.get("content-type", "")},
                )
                try:
                    with urllib.request.urlopen(forwarded, timeout=10) as answer:
                        status, data = answer.status, answer.read()
                        content_type = answer.headers.get("content-type", "")
                except urllib.error.HTTPError as error:
                    status, data = error.code, error.read()
                    content_type = error.headers.get("content-type", "")
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> _HeaderRecorder:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def recorder(model_server: ScriptedModelServer) -> Iterator[_HeaderRecorder]:
    with _HeaderRecorder(model_server.base_url) as running:
        yield running


WHY = {"rationale": "r", "confidence": 0.95}
MARKER = "Refund-and-tell-them-" + uuid.uuid4().hex[:8]


async def test_the_configured_keys_go_out_and_leak_nowhere(
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    recorder: _HeaderRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # what the worker logs (handrail.cli.worker)
    keyed = settings.model_copy(
        update={
            "openai_base_url": recorder.base_url,
            # Sent as the Temporal client's bearer token; the dev server ignores it. TLS off:
            # the dev server speaks plain gRPC.
            "temporal_api_key": SecretStr(TEST_TEMPORAL_API_KEY),
            "temporal_tls": False,
        }
    )
    create_store(store_db_path(keyed))
    model_server.brain = Scenario(
        [
            ToolCallReply("lookup_price", {"product": "Headlamp", **WHY}),
            ToolCallReply(
                "issue_refund", {"order_id": 1001, "amount": "10.00", "reason": "r", **WHY}
            ),
            ToolCallReply("send_email", {"order_id": 1001, "subject": "S", "body": "B", **WHY}),
            ToolCallReply("final_answer", {"answer": "done", **WHY}),
        ]
    )
    spans = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(tracer_provider=provider)
    client = await connect_temporal(keyed, telemetry)
    handrail = HandrailClient(client, keyed)
    async with running_worker(client, keyed, telemetry=telemetry):
        handle = await handrail.start_task({"goal": MARKER, "profile": "store_actions"})
        result = await handle.result()
        trace = await handrail.get_trace(result.task_id)
    history = await handle.fetch_history()
    export = keyed.data_dir / "export.jsonl"
    export_jsonl(RunLedger(ledger_url(keyed)), export)

    assert result.status == "answered"
    # The keys were really in use, so finding none of them below means something.
    assert len(recorder.authorizations) == 4
    assert set(recorder.authorizations) == {f"Bearer {TEST_API_KEY}"}
    assert client.api_key == TEST_TEMPORAL_API_KEY

    sources: list[Any] = [
        history,
        *((f"span {s.name!r}", span_text(s)) for s in spans.get_finished_spans()),
        *((f"log record {r.name} {r.levelname}", r.getMessage()) for r in caplog.records),
        ("trace", trace.model_dump_json()),
        ("result", result.model_dump_json()),
        ("export", export.read_bytes()),
    ]
    _, stored = scan_files([keyed.state_db_path], {"marker": MARKER})
    assert stored, "the scan can see the state database's ledger and conversations"
    assert find_secrets(sources, {"marker": MARKER}), "the scan can see payloads at all"
    assert len(spans.get_finished_spans()) > 4
    assert caplog.records

    secrets = {"model key": TEST_API_KEY, "Temporal API key": TEST_TEMPORAL_API_KEY}
    _, in_files = scan_files(sorted(p for p in keyed.data_dir.rglob("*") if p.is_file()), secrets)
    leaks = find_secrets(sources, secrets) + in_files
    assert not leaks, "\n".join(map(str, leaks))
