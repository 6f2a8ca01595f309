"""A ticket system as an MCP server (the SDK's ``MCPServer``): tickets in a SQLite file named by
``TICKETS_DB``. Over stdio it records a fingerprint of the token Handrail passes in ``MCP_TOKEN``,
so the test can check it arrived without the token itself being written anywhere; over HTTP the
test checks the bearer header.

``python -m tests.mcp_servers.tickets`` runs it over stdio.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server = MCPServer("tickets")


def _db() -> sqlite3.Connection:
    connection = sqlite3.connect(Path(os.environ["TICKETS_DB"]), isolation_level=None)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, title TEXT, status TEXT)"
    )
    connection.execute(
        "CREATE TABLE IF NOT EXISTS calls (tool TEXT, ticket_id INTEGER, idempotency_key TEXT)"
    )
    connection.execute("CREATE TABLE IF NOT EXISTS facts (name TEXT PRIMARY KEY, value TEXT)")
    return connection


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_seen(path: Path) -> str | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT value FROM facts WHERE name = 'token'").fetchone()
    return row[0] if row else None


def create_tickets(path: Path) -> None:
    os.environ["TICKETS_DB"] = str(path)
    with _db() as db:
        db.execute("INSERT OR IGNORE INTO tickets VALUES (7, 'VPN drops every hour', 'open')")
        db.execute("INSERT OR IGNORE INTO tickets VALUES (8, 'Printer jam', 'open')")


def _status(ticket_id: int, status: str) -> dict[str, object]:
    with _db() as db:
        changed = db.execute(
            "UPDATE tickets SET status = ? WHERE id = ?", (status, ticket_id)
        ).rowcount
        db.execute("INSERT INTO calls VALUES (?, ?, NULL)", (status, ticket_id))
    if not changed:
        raise ValueError(f"no ticket {ticket_id}")
    return {"ticket_id": ticket_id, "status": status}


@server.tool()
def lookup_ticket(ticket_id: int) -> dict[str, object]:
    """Look up a ticket: its title and status."""
    with _db() as db:
        row = db.execute("SELECT id, title, status FROM tickets WHERE id = ?", (ticket_id,))
        found = row.fetchone()
    if found is None:
        raise ValueError(f"no ticket {ticket_id}")
    return {"ticket_id": found[0], "title": found[1], "status": found[2]}


@server.tool()
def close_ticket(ticket_id: int) -> dict[str, object]:
    """Close a ticket as resolved."""
    return _status(ticket_id, "closed")


@server.tool()
def reopen_ticket(ticket_id: int) -> dict[str, object]:
    """Reopen a closed ticket."""
    return _status(ticket_id, "open")


@server.tool()
def delete_ticket(ticket_id: int) -> dict[str, object]:
    """Delete a ticket for good."""
    with _db() as db:
        db.execute("DELETE FROM tickets WHERE id = ?", (ticket_id,))
    return {"ticket_id": ticket_id, "deleted": True}


@server.tool()
def dump_log() -> str:
    """A very long answer (to test that results are bounded)."""
    return "log line\n" * 50_000


if __name__ == "__main__":
    with _db() as db:
        seen = fingerprint(os.environ.get("MCP_TOKEN", ""))
        db.execute("INSERT OR REPLACE INTO facts VALUES ('token', ?)", (seen,))
    server.run()
