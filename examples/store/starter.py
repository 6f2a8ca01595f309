"""The store's demo, ``python starter.py demo`` from the checkout (the store app's ``demo``
command): the embedded dev server, a worker and a few questions, then stop them all.

The demo runs on a task queue of its own (``handrail-demo-<random>``): when a Temporal server
already runs on the configured address, any worker polling the shared ``handrail-agent`` queue
(another checkout, other code, a real model) could otherwise take the demo's tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from temporalio.client import WorkflowHandle

from examples.store.clerk import StoreClerk
from examples.store.database import StoreTarget, create_store, store_effects
from examples.store.settings import StoreSettings
from examples.store.worker import running_worker
from handrail import HandrailClient, HandrailSettings, TaskResult
from handrail.cli.output import print_result
from handrail.cli.serve import DEFAULT_HOST, DEFAULT_PORT
from handrail.cli.trace_format import format_pending
from handrail.errors import UserError
from handrail.runtime.devserver import is_listening, is_loopback, split_address
from handrail.runtime.services import connected, model_endpoint, temporal_service
from handrail.search_attributes import PENDING_QUERY

DEMO_QUEUE_PREFIX: Final = "handrail-demo-"
DEMO_TASKS: tuple[tuple[str, str], ...] = (
    ("How much are the Trail Runner Shoes?", "store_support"),
    ("What does the Camping Stove cost?", "store_support"),
    ("What is the price of the Rain Jacket?", "store_support"),
    ("What is the status of order 1002?", "store_support"),
    # Commits: the refund, then (at the commit point) the irreversible email.
    (
        "Please refund 10.00 EUR on order 1001 for the torn socks and email the customer.",
        "store_actions",
    ),
    # Rolls back: a discount and a refund are made, then the customer asks for a manager; the
    # task escalates and both are undone, newest first.
    (
        "Apply a discount of 5.00 on order 1002 and a refund of 20.00 on order 1002, "
        "but the customer insists on a manager.",
        "store_actions",
    ),
)
# Paused for a reviewer: approved in the demo, and rejected (rolling back its discount).
DEMO_REVIEWS: tuple[tuple[str, str, str], ...] = (
    ("Please refund 80.00 USD on order 1003 for the broken stove.", "approve", "alice"),
    (
        "Apply a discount of 5.00 on order 1002 and a refund of 60.00 on order 1002.",
        "reject",
        "bob",
    ),
)


def demo_settings(settings: HandrailSettings) -> HandrailSettings:
    """``settings`` with a task queue no other worker polls (see the module docstring)."""
    return settings.model_copy(update={"task_queue": f"{DEMO_QUEUE_PREFIX}{uuid.uuid4().hex[:8]}"})


def _why_no_server_to_serve(settings: HandrailSettings) -> str | None:
    """Why the demo will not start a dev server of its own (so ``--serve`` has nothing to keep
    up), or ``None`` if it will. The same tests as ``devserver.embedded_server``."""
    host, port = split_address(settings.temporal_address)
    if not settings.embedded_server:
        return "HANDRAIL_EMBEDDED_SERVER is off"
    if not is_loopback(host):
        return f"{settings.temporal_address} is not a loopback address"
    if is_listening(host, port):
        return f"a Temporal server already runs at {settings.temporal_address}"
    return None


def _print_store_effects(target: StoreTarget, task_ids: list[str]) -> None:
    """What the demo's tasks left in the store's database, read back from the file."""
    rows = store_effects(target, task_ids)
    print("Store effects of these tasks, read back from the database:")
    for table, found in rows.items():
        print(f"   {table}: {found or 'none'}")


async def cmd_demo(settings: HandrailSettings, args: argparse.Namespace) -> int:
    """``demo [--serve]``, with the CLI's settings (the store's profiles among their folders)."""
    if args.serve:
        reason = await asyncio.to_thread(_why_no_server_to_serve, settings)
        if reason is not None:
            raise UserError(f"--serve keeps up the dev server the demo starts, but {reason}")
    settings = demo_settings(settings)
    store = StoreSettings()
    target = create_store(store.target(settings))
    async with (
        temporal_service(settings) as server,
        model_endpoint(settings, StoreClerk()) as effective,
    ):
        where = "started here" if server else "already running"
        print(f"Temporal at {settings.temporal_address} ({where}); Web UI {settings.ui_url('')}")
        print(f"Task queue {settings.task_queue} (the demo's own)")
        client, _ = await connected(effective, args.telemetry)
        async with running_worker(client, effective, store=store, telemetry=args.telemetry):
            handrail = HandrailClient(client, effective)
            handles = [
                await handrail.start_task({"goal": goal, "profile": profile})
                for goal, profile in DEMO_TASKS
            ]
            results = await asyncio.gather(*(handrail.get_result(h.id) for h in handles))
            for (goal, _), result in zip(DEMO_TASKS, results, strict=True):
                print()
                print_result(result, settings, goal)
            print()
            handles += await _demo_reviews(handrail, settings)
            if server and args.serve:  # one refund left waiting, decided in the inbox
                await demo_inbox(handrail)
        print()
        _print_store_effects(target, [h.id for h in handles])
        print()
        if server and args.serve:
            print("Serving the Web UI until Ctrl-C...")
            await asyncio.Event().wait()
        elif server:
            print(
                f"Stopping the dev server. The runs stay in {settings.temporal_db_path}: "
                "`python starter.py server` serves them in the Web UI again."
            )
    return 0


async def _demo_reviews(
    handrail: HandrailClient, settings: HandrailSettings
) -> list[WorkflowHandle[Any, TaskResult]]:
    """Two refunds above the review threshold: both pause; one is approved, one rejected."""
    handles = [
        await handrail.start_task({"goal": goal, "profile": "store_actions"})
        for goal, _, _ in DEMO_REVIEWS
    ]
    waiting = []
    for _ in range(200):  # the visibility store sees the pause a moment after it happens
        waiting = await handrail.pending_reviews(task_queue=settings.task_queue)
        if {h.id for h in handles} <= {task_id for task_id, _ in waiting}:
            break
        await asyncio.sleep(0.05)
    print("Paused for review (`python starter.py pending`):")
    print(
        format_pending(
            [row for row in waiting if row[0] in {h.id for h in handles}], datetime.now(UTC)
        )
    )
    query = urllib.parse.quote(PENDING_QUERY)
    print(f"In the Web UI: {settings.ui_url('')}?query={query}")
    for handle, (goal, verdict, reviewer) in zip(handles, DEMO_REVIEWS, strict=True):
        pending = (await handrail.get_trace(handle.id)).pending_review
        assert pending is not None
        print(f"\n$ python starter.py review {handle.id} {verdict} --as {reviewer}")
        await handrail.review(
            handle.id,
            {"reviewer": reviewer, "step": pending.step, "verdict": verdict, "comment": "demo"},
        )
        print_result(await handrail.get_result(handle.id), settings, goal)
    return handles


DEMO_PAUSED_GOAL: Final = "Please refund 90.00 USD on order 1003 for the scratched lantern."


async def demo_inbox(handrail: HandrailClient, host: str = DEFAULT_HOST) -> None:
    """``demo --serve``: leave one refund awaiting review and serve the inbox for it, with a
    reviewer token made for this run only, until Ctrl-C (the demo's worker keeps running, so
    a click in the inbox finishes the task)."""
    from handrail.http import create_app, new_token, running_server, token_hash

    token = new_token()
    settings = handrail.settings.model_copy(
        update={"reviewer_tokens": {"alice": token_hash(token)}}
    )
    gateway = HandrailClient(handrail.temporal, settings)
    handle = await gateway.start_task({"goal": DEMO_PAUSED_GOAL, "profile": "store_actions"})
    app = create_app(gateway, task_queue=settings.task_queue)
    port = DEFAULT_PORT if not is_listening(host, DEFAULT_PORT) else 0
    async with running_server(app, host, port) as url:
        print(f"\nTask {handle.id} awaits review. Inbox: {url}/inbox")
        print(f"Sign in as alice with this token (valid while the demo runs): {token}")
        print("Serving the inbox and the Web UI until Ctrl-C...")
        await asyncio.Event().wait()
