"""Handrail's command line: ``python starter.py --help``.

demo     run the embedded dev server, a worker and a few pricing questions, then stop them all
start    start a task (``--wait`` waits, showing each step as it happens)
result   wait for a task's result
trace    print a task's decision path
pending  list tasks awaiting review
review   approve, edit, reject or answer a step awaiting review
stats    success rates, latency, tokens, cost, reviewer agreement; an HTML report
promote  widen a tool's autonomy one level (demote narrows it), recorded with who and why
export   decisions and reviewer verdicts as JSONL training data
server   run the embedded Temporal dev server (and its Web UI) until interrupted
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio.client import WorkflowHandle

from handrail.cli_stats import register as register_stats_commands
from handrail.client import HandrailClient, connect_temporal, ensure_search_attributes
from handrail.contracts import PendingReview, TaskResult
from handrail.devserver import DevServer, split_address
from handrail.errors import HandrailError, RunError, UserError
from handrail.process_exit import exit_now
from handrail.search_attributes import PENDING_QUERY
from handrail.settings import HandrailSettings
from handrail.store.database import create_store, store_effects
from handrail.trace_format import (
    format_compensations,
    format_pending,
    format_step,
    format_trace,
)
from worker import model_endpoint, running_worker, temporal_service

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
_PROGRESS_POLL_SECONDS = 0.5


async def _connect(settings: HandrailSettings) -> HandrailClient:
    try:
        return await HandrailClient.connect(settings)
    except RuntimeError as error:  # the SDK reports an unreachable server as RuntimeError
        raise UserError(
            f"cannot reach Temporal at {settings.temporal_address} ({error}); start one with "
            "`python starter.py server` and a worker with `python worker.py`"
        ) from None


def _print_result(result: TaskResult, settings: HandrailSettings, goal: str | None = None) -> None:
    if goal:
        print(f"Q: {goal}")
    print(f"A: {result.answer or '(no answer: ' + result.status + ')'}")
    print(
        f"   {result.status} · {len(result.steps)} step(s) · "
        f"{result.tokens_in} tokens in / {result.tokens_out} out"
    )
    for step in result.steps:
        for line in format_step(step):
            print("  " + line)
    if result.compensations:
        print("   rolled back:")
        for line in format_compensations(result.compensations):
            print("  " + line)
    print(f"   UI: {settings.ui_url(result.task_id)}")


def _print_store_effects(settings: HandrailSettings, task_ids: list[str]) -> None:
    """What the demo's tasks left in the store's database, read back from the file."""
    rows = store_effects(settings.store_db_path, task_ids)
    print("Store effects of these tasks, read back from the database:")
    for table, found in rows.items():
        print(f"   {table}: {found or 'none'}")


async def cmd_demo(settings: HandrailSettings, args: argparse.Namespace) -> int:
    create_store(settings.store_db_path)
    async with temporal_service(settings) as server, model_endpoint(settings) as effective:
        where = "started here" if server else "already running"
        print(f"Temporal at {settings.temporal_address} ({where}); Web UI {settings.ui_url('')}")
        client = await connect_temporal(effective)
        await ensure_search_attributes(client)
        async with running_worker(client, effective):
            handrail = HandrailClient(client, effective)
            handles = [
                await handrail.start_task({"goal": goal, "profile": profile})
                for goal, profile in DEMO_TASKS
            ]
            results = await asyncio.gather(*(handrail.get_result(h.id) for h in handles))
            for (goal, _), result in zip(DEMO_TASKS, results, strict=True):
                print()
                _print_result(result, settings, goal)
            print()
            handles += await _demo_reviews(handrail, settings)
        print()
        _print_store_effects(settings, [h.id for h in handles])
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
    waiting: list[tuple[str, PendingReview]] = []
    for _ in range(200):  # the visibility store sees the pause a moment after it happens
        waiting = await handrail.pending_reviews()
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
        _print_result(await handrail.get_result(handle.id), settings, goal)
    return handles


async def cmd_start(settings: HandrailSettings, args: argparse.Namespace) -> int:
    task: dict[str, Any] | str
    if args.input is not None:
        task = args.input
    else:
        if not args.goal:
            raise UserError('give a goal, e.g. `starter.py start "How much is the Headlamp?"`')
        task = {"goal": args.goal, "profile": args.profile}
        if args.task_id:
            task["task_id"] = args.task_id
        if args.context:
            try:
                task["context"] = json.loads(args.context)
            except json.JSONDecodeError as error:
                raise UserError(f"--context is not valid JSON: {error}") from None
    handrail = await _connect(settings)
    handle = await handrail.start_task(task)
    print(f"started {handle.id}  {settings.ui_url(handle.id)}")
    if not args.wait:
        return 0
    result_task = asyncio.ensure_future(handrail.get_result(handle.id))
    shown = 0
    while not result_task.done():
        await asyncio.wait({result_task}, timeout=_PROGRESS_POLL_SECONDS)
        trace = await handrail.get_trace(handle.id)
        for step in trace.steps[shown:]:
            print("\n".join(format_step(step)))
        shown = len(trace.steps)
    result = await result_task
    print(f"{result.status}: {result.answer or '(no answer)'}")
    return 0


async def cmd_result(settings: HandrailSettings, args: argparse.Namespace) -> int:
    handrail = await _connect(settings)
    result = await handrail.get_result(args.task_id)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        _print_result(result, settings)
    return 0


async def cmd_trace(settings: HandrailSettings, args: argparse.Namespace) -> int:
    handrail = await _connect(settings)
    trace = await handrail.get_trace(args.task_id)
    print(trace.model_dump_json(indent=2) if args.json else format_trace(trace))
    return 0


async def cmd_pending(settings: HandrailSettings, args: argparse.Namespace) -> int:
    handrail = await _connect(settings)
    rows = await handrail.pending_reviews()
    if args.json:
        print(json.dumps([{"task_id": t, **p.model_dump(mode="json")} for t, p in rows], indent=2))
    else:
        print(format_pending(rows, datetime.now(UTC)))
    return 0


async def cmd_review(settings: HandrailSettings, args: argparse.Namespace) -> int:
    reviewer = args.reviewer or settings.reviewer
    if not reviewer:
        raise UserError("say who decides: --as NAME (or set HANDRAIL_REVIEWER)")
    handrail = await _connect(settings)
    step = args.step
    if step is None:
        pending = (await handrail.get_trace(args.task_id)).pending_review
        if pending is None:
            raise UserError(f"task {args.task_id} has no step awaiting review")
        step = pending.step
    decision: dict[str, Any] = {
        "reviewer": reviewer,
        "step": step,
        "verdict": args.verdict,
        "comment": args.comment,
    }
    if args.verdict == "edit":
        if args.args is None:
            raise UserError('edit needs the new arguments: --args \'{"amount": "40.00", ...}\'')
        try:
            decision["arguments"] = json.loads(args.args)
        except json.JSONDecodeError as error:
            raise UserError(f"--args is not valid JSON: {error}") from None
    if args.verdict == "answer":
        if not args.text:
            raise UserError("answer needs the text for the customer: --text '...'")
        decision["answer"] = args.text
    receipt = await handrail.review(args.task_id, decision)
    print(f"{receipt.verdict} recorded for step {receipt.step} of {args.task_id} ({receipt.tier})")
    return 0


async def cmd_server(settings: HandrailSettings, args: argparse.Namespace) -> int:
    host, port = split_address(settings.temporal_address)
    async with DevServer(
        db_file=settings.temporal_db_path, host=host, port=port, ui_port=settings.ui_port
    ):
        print(f"Temporal dev server at {host}:{port}, Web UI {settings.ui_url('')}; Ctrl-C stops.")
        await asyncio.Event().wait()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starter.py",
        description="Run and inspect Handrail agent tasks. Settings come from HANDRAIL_* "
        "environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="dev server + worker + pricing questions, then stop")
    demo.add_argument("--serve", action="store_true", help="keep the Web UI up afterwards")
    demo.set_defaults(handler=cmd_demo)

    start = commands.add_parser("start", help="start a task")
    start.add_argument("goal", nargs="?", help="the question or job")
    start.add_argument("--profile", default="store_support")
    start.add_argument("--context", help="JSON object of facts for the model")
    start.add_argument("--task-id", help="idempotency key (becomes the workflow id)")
    start.add_argument("--input", help="the whole task as JSON instead of the options above")
    start.add_argument("--wait", action="store_true", help="wait, showing steps as they happen")
    start.set_defaults(handler=cmd_start)

    result = commands.add_parser("result", help="wait for a task's result")
    result.add_argument("task_id")
    result.add_argument("--json", action="store_true")
    result.set_defaults(handler=cmd_result)

    trace = commands.add_parser("trace", help="print a task's decision path")
    trace.add_argument("task_id")
    trace.add_argument("--json", action="store_true")
    trace.set_defaults(handler=cmd_trace)

    pending = commands.add_parser("pending", help="list tasks awaiting review")
    pending.add_argument("--json", action="store_true")
    pending.set_defaults(handler=cmd_pending)

    review = commands.add_parser(
        "review",
        help="decide a step awaiting review",
        description="Decide the step a task is waiting on, through the `review` update: a stale "
        "or unauthorised decision is refused at once with the reason.",
    )
    review.add_argument("task_id")
    review.add_argument("verdict", choices=["approve", "reject", "edit", "answer"])
    review.add_argument("--as", dest="reviewer", help="who decides (default HANDRAIL_REVIEWER)")
    review.add_argument("--step", type=int, help="step number (default: the pending one)")
    review.add_argument("--args", help="edit: the new arguments as a JSON object")
    review.add_argument("--text", help="answer: the reply to the customer")
    review.add_argument("--comment", default="", help="why, for the record")
    review.set_defaults(handler=cmd_review)

    register_stats_commands(commands)  # stats, promote, demote, export

    server = commands.add_parser("server", help="run the embedded Temporal dev server")
    server.set_defaults(handler=cmd_server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = HandrailSettings()
        return int(asyncio.run(args.handler(settings, args)))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `starter.py trace X | head`: the reader left; that is fine
        return 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (RunError, HandrailError) as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    exit_now(main())
