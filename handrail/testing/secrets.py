"""Finding secrets where they must never be: workflow histories, logs, spans, files, databases.

A key that reaches workflow history is readable by everyone who may read histories, kept for
the namespace's retention period and replayed into every worker that touches the run. So
Handrail's own test session scans everything it produced for the keys it configured, and a
user's suite can do the same::

    leaks = find_secrets([history, ("worker log", text)], {"model key": key})
    assert not leaks, "\\n".join(map(str, leaks))

A :class:`Leak` names the secret by its label and where it was found, never its value, so a
failure report cannot become the leak. A secret is looked for as it is, JSON-escaped, and
base64-encoded at each of the three byte alignments (standard and URL-safe alphabets): payload
bytes travel base64-encoded in a history's JSON, and a secret inside a larger base64 blob
shows up only as the part of its encoding that does not depend on its neighbours.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

__all__ = [
    "MIN_SECRET_LENGTH",
    "Leak",
    "SecretLogHandler",
    "SecretSpanProcessor",
    "find_secrets",
    "scan_files",
    "scan_server",
    "scan_sqlite",
]

MIN_SECRET_LENGTH = 8
"""Shorter values would match by chance (and say nothing): refused, so a check cannot pass
vacuously on a placeholder such as ``"x"``."""

SQLITE_MAGIC = b"SQLite format 3\x00"
_HISTORY_FETCHES = 8  # at once: the dev server shares two cores with the rest of the session

Source = tuple[str, str | bytes]
"""Something to scan: where it is (shown in a leak) and its text or bytes."""


@dataclass(frozen=True)
class Leak:
    """A secret found where it must not be. Holds the secret's label, never its value."""

    secret: str
    """The secret's label, e.g. ``"model key"``."""
    where: str
    """Where it was found: ``workflow W run R event 7 (ACTIVITY_TASK_SCHEDULED)``, a log
    record's logger and line, a span's name, a file and table."""
    form: str
    """How it appeared: ``plain``, ``json-escaped``, ``base64`` or ``base64url``."""

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.where}"


def _b64_needles(secret: bytes) -> list[tuple[str, bytes]]:
    """The parts of ``secret``'s base64 encoding that do not depend on the bytes around it, for
    each of the three offsets it may start at inside a larger encoded blob."""
    needles: list[tuple[str, bytes]] = []
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + secret)
        # Characters before `start` mix in the neighbour's bits, those after `end` the padding.
        start = -(-shift * 8 // 6)
        end = (shift + len(secret)) * 8 // 6
        middle = encoded[start:end]
        needles.append(("base64", middle))
        urlsafe = middle.replace(b"+", b"-").replace(b"/", b"_")
        if urlsafe != middle:
            needles.append(("base64url", urlsafe))
    return needles


@dataclass(frozen=True)
class _Needles:
    label: str
    forms: tuple[tuple[str, bytes], ...]


def _needles(secrets: Mapping[str, str | SecretStr]) -> list[_Needles]:
    prepared = []
    for label, value in secrets.items():
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if len(text) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"secret {label!r} is shorter than {MIN_SECRET_LENGTH} characters: a scan for "
                "it would match by chance"
            )
        raw = text.encode()
        forms: list[tuple[str, bytes]] = [("plain", raw)]
        escaped = json.dumps(text)[1:-1].encode()
        if escaped != raw:
            forms.append(("json-escaped", escaped))
        forms += _b64_needles(raw)
        prepared.append(_Needles(label, tuple(forms)))
    return prepared


def _scan(where: str, data: str | bytes, needles: list[_Needles]) -> Iterator[Leak]:
    # Text is scanned as UTF-8 bytes, so one set of needles serves text and bytes alike.
    haystack = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    for secret in needles:
        for form, needle in secret.forms:
            if needle in haystack:
                yield Leak(secret.label, where, form)
                break  # one leak per secret and place is enough to name it


def history_sources(history: WorkflowHistory) -> Iterator[Source]:
    """Each event of ``history`` as its serialized bytes (payloads are raw bytes there, so
    decoded JSON and anything nested in it are covered), named by workflow, run and event."""
    run = history.run_id
    for event in history.events:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        where = f"workflow {history.workflow_id} run {run} event {event.event_id} ({kind})"
        yield where, event.SerializeToString()


def find_secrets(
    sources: Iterable[WorkflowHistory | Source], secrets: Mapping[str, str | SecretStr]
) -> list[Leak]:
    """Every place among ``sources`` that holds one of ``secrets`` (label → value).

    A source is a workflow history (scanned event by event) or a ``(where, text or bytes)``
    pair. The result names labels and places only; an empty list means nothing leaked.
    """
    needles = _needles(secrets)
    leaks: list[Leak] = []
    for source in sources:
        pairs = history_sources(source) if isinstance(source, WorkflowHistory) else [source]
        for where, data in pairs:
            leaks.extend(_scan(where, data, needles))
    return leaks


async def scan_server(
    client: Client, secrets: Mapping[str, str | SecretStr], *, query: str | None = None
) -> tuple[int, list[Leak]]:
    """Scan the history of every workflow ``client``'s namespace lists (or those ``query``
    selects), open or closed, and each listing's memo and search attributes; returns how many
    runs were scanned and the leaks."""
    needles = _needles(secrets)  # checked before any call, so a bad secret fails fast
    listed = [execution async for execution in client.list_workflows(query)]
    leaks: list[Leak] = []
    for execution in listed:
        where = f"workflow {execution.id} run {execution.run_id} (listing)"
        leaks.extend(_scan(where, execution.raw_info.SerializeToString(), needles))
    gate = asyncio.Semaphore(_HISTORY_FETCHES)

    async def fetch(workflow_id: str, run_id: str) -> WorkflowHistory:
        async with gate:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            return await handle.fetch_history()

    histories = await asyncio.gather(*(fetch(e.id, e.run_id) for e in listed))
    leaks += find_secrets(histories, secrets)
    return len(listed), leaks


_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def record_text(record: logging.LogRecord) -> str:
    """All a log record can put in a log: its message, exception and stack, and any ``extra``
    fields a structured formatter would print."""
    parts = [record.getMessage()]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    extras = {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}
    if extras:
        parts.append(repr(extras))
    return "\n".join(parts)


class SecretLogHandler(logging.Handler):
    """A logging handler that keeps nothing but the leaks it sees: attach it (at INFO, the
    worker's level) for as long as a check should watch, then read ``leaks``."""

    def __init__(self, secrets: Mapping[str, str | SecretStr], level: int = logging.INFO) -> None:
        super().__init__(level)
        self._needles = _needles(secrets)
        self.leaks: list[Leak] = []
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        # Called under the handler's lock (logging.Handler.handle): no lock of our own.
        self.records += 1
        try:
            text = record_text(record)
        except Exception:  # a record whose arguments do not format: logging reports it itself
            return
        where = f"log record {record.name} {record.levelname} ({record.pathname}:{record.lineno})"
        self.leaks.extend(_scan(where, text, self._needles))


def span_text(span: ReadableSpan) -> str:
    """Everything a span exports: name, attributes, events, links, status and resource."""
    document: dict[str, Any] = {
        "name": span.name,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": event.name, "attributes": dict(event.attributes or {})}
            for event in span.events
        ],
        "links": [dict(link.attributes or {}) for link in span.links],
        "status": span.status.description or "",
        "resource": dict(span.resource.attributes) if span.resource else {},
    }
    return json.dumps(document, default=str, ensure_ascii=False)


class SecretSpanProcessor(SpanProcessor):
    """A span processor that scans each finished span and keeps only the leaks: add it to a
    ``TracerProvider`` beside (or instead of) an exporter."""

    def __init__(self, secrets: Mapping[str, str | SecretStr]) -> None:
        self._needles = _needles(secrets)
        self.leaks: list[Leak] = []
        self.spans = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self.spans += 1
        self.leaks.extend(_scan(f"span {span.name!r}", span_text(span), self._needles))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def scan_sqlite(path: Path, secrets: Mapping[str, str | SecretStr]) -> list[Leak]:
    """Every cell of every table of the SQLite database at ``path``, read-only. Cells rather
    than the file's bytes: a value that spills onto an overflow page is split in the file."""
    needles = _needles(secrets)
    leaks: list[Leak] = []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            for rowid, row in enumerate(db.execute(f"SELECT * FROM {quoted}"), start=1):
                for value in row:
                    if isinstance(value, str | bytes):
                        where = f"{path} table {table} row {rowid}"
                        leaks.extend(_scan(where, value, needles))
    return leaks


def scan_files(
    paths: Iterable[Path], secrets: Mapping[str, str | SecretStr]
) -> tuple[int, list[Leak]]:
    """Scan files: SQLite databases cell by cell (``scan_sqlite``), anything else as bytes
    (logs, JSONL exports, HTML reports, WAL files). Returns how many were scanned and the
    leaks."""
    needles = _needles(secrets)
    leaks: list[Leak] = []
    scanned = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:  # removed meanwhile, or a socket: nothing to read
            continue
        scanned += 1
        if data.startswith(SQLITE_MAGIC):
            try:
                leaks += scan_sqlite(path, secrets)
                continue
            except sqlite3.Error:
                pass  # unreadable as a database (mid-write, corrupt on purpose): scan its bytes
        leaks.extend(_scan(str(path), data, needles))
    return scanned, leaks
