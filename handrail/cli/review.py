"""The reviewer's commands: ``pending`` (what waits for a person) and ``review`` (decide it,
through the ``review`` update: a stale or unauthorised decision is refused at once)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from handrail.cli.common import connect, refuse_ignored
from handrail.cli.trace_format import PROPOSAL_PREFIX, format_pending, printable
from handrail.contracts import PendingReview
from handrail.errors import UserError
from handrail.settings import HandrailSettings


async def cmd_pending(settings: HandrailSettings, args: argparse.Namespace) -> int:
    handrail = await connect(settings, args)
    # A task whose worker is gone (a test's worker on a shared server, a stopped deployment)
    # cannot show its proposal: counted per task queue and said once, not an error per task.
    unanswered: Counter[str] = Counter()
    rows = await handrail.pending_reviews(
        on_no_worker=lambda _task_id, task_queue: unanswered.update([task_queue])
    )
    if args.json:
        print(json.dumps([{"task_id": t, **p.model_dump(mode="json")} for t, p in rows], indent=2))
    else:
        print(format_pending(rows, datetime.now(UTC)))
    if unanswered:
        queues = ", ".join(f"{printable(queue)} ({n})" for queue, n in sorted(unanswered.items()))
        # On stderr: --json's output stays one JSON document.
        print(
            f"not listed: {unanswered.total()} task(s) awaiting review on task queues no worker "
            f"polls: {queues}; start their worker, or end them with `temporal workflow "
            "terminate`",
            file=sys.stderr,
        )
    return 0


def _bound_proposal(prefix: str | None, pending: PendingReview) -> str | None:
    """The full fingerprint ``prefix`` names (what the reviewer saw in ``pending``), sent so
    that the workflow refuses the decision if the proposal changes before it lands."""
    if not prefix:
        return None
    shown = pending.fingerprint or ""
    if len(prefix) < 6 or not shown.startswith(prefix.lower()):
        raise UserError(
            f"--proposal {prefix} is not what step {pending.step} proposes now "
            f"({shown[:PROPOSAL_PREFIX] or 'no fingerprint'}: {printable(pending.summary)}); "
            "run `pending` again"
        )
    return shown


async def cmd_review(settings: HandrailSettings, args: argparse.Namespace) -> int:
    if args.verdict != "edit":
        refuse_ignored(args, f"with {args.verdict}: only edit takes new arguments", "--args")
    if args.verdict != "answer":
        refuse_ignored(args, f"with {args.verdict}: only answer takes a reply", "--text")
    reviewer = args.reviewer or settings.reviewer
    if not reviewer:
        raise UserError("say who decides: --as NAME (or set HANDRAIL_REVIEWER)")
    handrail = await connect(settings, args)
    step, fingerprint = args.step, None
    if step is None or args.proposal:
        pending = (await handrail.get_trace(args.task_id)).pending_review
        if pending is None:
            raise UserError(f"task {args.task_id} has no step awaiting review")
        step = pending.step if step is None else step
        fingerprint = _bound_proposal(args.proposal, pending)
    decision: dict[str, Any] = {
        "reviewer": reviewer,
        "step": step,
        "verdict": args.verdict,
        "comment": args.comment,
    }
    if fingerprint is not None:
        decision["fingerprint"] = fingerprint
    if args.verdict == "edit":
        if args.args is None:
            raise UserError('edit needs the new arguments: --args \'{"amount": "40.00", ...}\'')
        try:
            decision["arguments"] = json.loads(args.args)
        except json.JSONDecodeError as error:
            raise UserError(f"--args is not valid JSON: {error}") from None
    if args.verdict == "answer":
        if not args.text:
            raise UserError("answer needs the reply: --text '...'")
        decision["answer"] = args.text
    receipt = await handrail.review(args.task_id, decision)
    print(
        printable(
            f"{receipt.verdict} recorded for step {receipt.step} of {args.task_id} ({receipt.tier})"
        )
    )
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pending`` and ``review`` to the CLI's subcommands."""
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
    review.add_argument("--text", help="answer: the reply, instead of the agent's")
    review.add_argument("--comment", default="", help="why, for the record")
    review.add_argument(
        "--proposal",
        help="the PROPOSAL that `pending` showed (a fingerprint prefix): the decision is refused "
        "if the step now proposes something else",
    )
    review.set_defaults(handler=cmd_review)
