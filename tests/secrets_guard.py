"""The session's secrets guard: nothing the test session produced may hold a configured secret.

Registered by the repository's root ``conftest.py`` (``pytest_plugins``), so that it guards
every session, whichever of ``tests/`` and ``examples/`` it collects and in whichever order.
For the whole session it watches
every log record at INFO (the worker's level: ``handrail.cli.worker`` configures logging at
INFO) and every span made through the process's global tracer provider (the one
``connect_temporal`` uses when given no telemetry of its own). At the end, before the session's
Temporal dev server stops, it scans:

- the history of every workflow on that server (each event's bytes: payloads decoded, and the
  base64 and JSON-escaped forms of each secret), and each listing's memo and search attributes;
- every file the tests left under pytest's base temp folder: each SQLite database cell by cell
  (state databases with their run ledger, journal and conversations; store databases; embedded
  engines' ``temporal.db``), everything else as bytes (logs, exports, reports);
- the ``export`` JSONL of every state database there (what leaves as training data);
- every request each scripted model server a fixture made received (what a model provider
  sees).

A leak fails the session (an error at the last test's teardown) with one line per place —
workflow and event, log record, span, file and table — and never the secret's value.
Spans made with a ``Telemetry`` of a test's own (the GenAI spans) do not pass the global
provider: ``tests/telemetry/test_secrets.py`` runs a task with telemetry on and scans those.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from handrail.testing.scripted_model import ScriptedModelServer
from handrail.testing.secrets import (
    SQLITE_MAGIC,
    Leak,
    SecretLogHandler,
    SecretSpanProcessor,
    find_secrets,
    scan_files,
    scan_server,
)

TEST_API_KEY = "sk-test-" + "a1b2c3d4e5f6g7h8i9j0"  # must never show up in a history
TEST_TEMPORAL_API_KEY = "tmprl-test-" + "k9j8h7g6f5e4d3c2b1a0"  # nor this

# Secrets that other test modules configure, read from the module when it ran in this session:
# module → {attribute: label}. (Their values live beside the tests that use them.)
MODULE_SECRETS: dict[str, dict[str, str]] = {
    "tests.mcp.test_mcp": {"TOKEN": "MCP token (tests.mcp.test_mcp.TOKEN)"},
}
MAX_FILE_BYTES = 256 * 1024 * 1024  # a file this big is a benchmark's, not a test's output


def session_secrets() -> dict[str, str]:
    """Label → value of every secret the session configures."""
    secrets = {
        "model key (TEST_API_KEY)": TEST_API_KEY,
        "Temporal API key (TEST_TEMPORAL_API_KEY)": TEST_TEMPORAL_API_KEY,
    }
    for module_name, attributes in MODULE_SECRETS.items():
        module = sys.modules.get(module_name)
        for attribute, label in attributes.items():
            value = getattr(module, attribute, None)
            if isinstance(value, str):
                secrets[label] = value
    return secrets


@dataclass
class GuardReport:
    """What the guard scanned, for the summary line, and what it found."""

    runs: int = 0
    files: int = 0
    exports: int = 0
    model_requests: int = 0
    log_records: int = 0
    spans: int = 0
    leaks: list[Leak] = field(default_factory=list)
    not_exported: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"secrets guard: {self.runs} workflow runs, {self.files} files, {self.exports} "
            f"exports, {self.model_requests} model requests, {self.log_records} log records "
            f"(INFO+), {self.spans} spans scanned: {len(self.leaks)} leak(s)"
        )


REPORT_KEY = pytest.StashKey[GuardReport]()
MODEL_SERVERS_KEY = pytest.StashKey[list[ScriptedModelServer]]()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Any:
    """Keep every scripted model server a fixture makes, under any name and in any test root:
    asking for one by name at the start would fail where the first test cannot see it."""
    value = yield
    if isinstance(value, ScriptedModelServer):
        request.config.stash.setdefault(MODEL_SERVERS_KEY, []).append(value)
    return value


def _uses(session: pytest.Session, fixture: str) -> bool:
    return any(fixture in getattr(item, "fixturenames", ()) for item in session.items)


def _in_own_loop(work: Any) -> Any:
    """Run a coroutine on a loop of its own, in a thread: the session's loop is not running
    during fixture teardown, and ``asyncio.run`` here would replace pytest-asyncio's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


async def _scan_dev_server(target: str, namespace: str, secrets: dict[str, str]) -> Any:
    # A client of the guard's own, on the guard's loop: the session's is bound to its loop.
    client = await Client.connect(target, namespace=namespace)
    return await scan_server(client, secrets)


def _is_state_database(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            if file.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                return False
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except (OSError, sqlite3.Error):
        return False
    return {"runs", "alembic_version"} <= names


def _scan_exports(
    databases: list[Path], secrets: dict[str, str], report: GuardReport
) -> list[Leak]:
    # Imported here: only needed at the end, and they load SQLAlchemy and Alembic.
    from handrail.reports.export import export_jsonl
    from handrail.storage.ledger import RunLedger

    leaks: list[Leak] = []
    with tempfile.TemporaryDirectory(prefix="secrets-guard-") as scratch:
        for number, database in enumerate(databases):
            out = Path(scratch) / f"export-{number}.jsonl"
            ledger = RunLedger(database)
            try:
                export_jsonl(ledger, out)
            except Exception as error:  # a database a test left half-migrated on purpose
                report.not_exported.append(f"{database}: {type(error).__name__}")
                continue
            finally:
                ledger.database.sync_engine.dispose()
            report.exports += 1
            leaks += find_secrets([(f"export of {database}", out.read_bytes())], secrets)
    return leaks


def _files_under(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_FILE_BYTES:
                yield path
        except OSError:
            continue


@pytest.fixture(scope="session", autouse=True)
def secrets_guard(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GuardReport]:
    report = GuardReport()
    request.config.stash[REPORT_KEY] = report
    watched = session_secrets()

    # The worker logs at INFO: the root logger is lowered to INFO for the session (pytest's
    # own log capture leaves it at WARNING), and restored after.
    handler = SecretLogHandler(watched, logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))

    spans = SecretSpanProcessor(watched)
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):  # nobody set one
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(spans)
        trace.set_tracer_provider(provider)

    # Asked for only when some test uses it, so that a run of unit tests starts no server.
    # Asked for here, it is torn down after this fixture: the scan sees it alive. (The kit's
    # fixture, which every test root sees: the first test may be anywhere.)
    env: WorkflowEnvironment | None = None
    if _uses(request.session, "handrail_env"):
        env = request.getfixturevalue("handrail_env")

    yield report

    root.removeHandler(handler)
    root.setLevel(level)
    # Module secrets are read again: a module that set one ran after the guard started.
    watched = session_secrets()
    report.log_records, report.spans = handler.records, spans.spans
    leaks = [*handler.leaks, *spans.leaks]
    if env is not None:
        target = env.client.service_client.config.target_host
        runs, found = _in_own_loop(_scan_dev_server(target, env.client.namespace, watched))
        report.runs = runs
        leaks += found
    # Their requests stay in memory after they stopped.
    requests = [
        body
        for server in request.config.stash.get(MODEL_SERVERS_KEY, [])
        for body in server.requests
    ]
    report.model_requests = len(requests)
    leaks += find_secrets(
        [(f"model request {n}", json.dumps(body)) for n, body in enumerate(requests, 1)],
        watched,
    )
    files = list(_files_under(tmp_path_factory.getbasetemp()))
    report.files, found = scan_files(files, watched)
    leaks += found
    leaks += _scan_exports([f for f in files if _is_state_database(f)], watched, report)
    report.leaks = leaks
    if leaks:
        shown = "\n".join(f"  {leak}" for leak in leaks[:50])
        more = f"\n  ... and {len(leaks) - 50} more" if len(leaks) > 50 else ""
        pytest.fail(f"{report.summary()}\n{shown}{more}", pytrace=False)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(REPORT_KEY, None)
    if report is None:
        return
    terminalreporter.write_line(report.summary())
    if report.not_exported:
        terminalreporter.write_line(
            f"secrets guard: {len(report.not_exported)} state database(s) not exported "
            f"(their cells were scanned): {'; '.join(report.not_exported[:5])}"
        )
