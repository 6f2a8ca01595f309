"""The commit point in ``stats``: how often the actions held back to it failed there.

An irreversible action waits for the task's commit point (``handrail.policy.gate.when_to_run``); if
one fails there, the task ends ``commit_failed`` and its answer is not delivered
(``workflows/agent.py``). ``stats`` shows how many tasks that ran a commit failed it, and per
tool how many of its deferred actions ran there, failed, or never ran because an earlier one
failed. No new column: the ledger's steps already say which were deferred and how they ended.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from handrail.storage.schema import run_steps, runs


class CommitTool(BaseModel):
    """One tool's deferred actions at the commit point."""

    tool: str
    ran: int = Field(description="Deferred actions of the tool that ran at the commit point.")
    failed: int = Field(description="Of those, the ones that failed there.")
    never_ran: int = Field(description="Never ran: an earlier action had failed the commit.")
    failure_rate: float = Field(description="failed / ran")


class CommitReport(BaseModel):
    """How tasks' commit points went."""

    tasks_committing: int = Field(default=0, description="Tasks that ran a deferred action.")
    tasks_failed: int = Field(default=0, description="Tasks that ended `commit_failed`.")
    rate: float = Field(default=0.0, description="tasks_failed / tasks_committing")
    by_tool: list[CommitTool] = Field(default_factory=list)


def commit_report(
    tasks_failed: int, tasks_committing: int, actions: list[tuple[str, int, int, int]]
) -> CommitReport:
    """The report from the ledger's counts (``commit_point_rows``)."""
    return CommitReport(
        tasks_committing=tasks_committing,
        tasks_failed=tasks_failed,
        rate=tasks_failed / tasks_committing if tasks_committing else 0.0,
        by_tool=[
            CommitTool(
                tool=tool,
                ran=ran,
                failed=failed,
                never_ran=never,
                failure_rate=failed / ran if ran else 0.0,
            )
            for tool, ran, failed, never in actions
        ],
    )


def commit_point_rows(
    db: Connection, in_steps: list[ColumnElement[bool]]
) -> tuple[int, list[tuple[str, int, int, int]]]:
    """Deferred actions at the commit point, per tool (``LedgerAggregates.commit_actions``),
    and how many runs ran one. A deferred step ran when it has an outcome (``ok``); one with
    none in a ``commit_failed`` run never ran because an earlier one failed."""
    s, r = run_steps.c, runs.c
    ran = s.ok.is_not(None)
    stopped = and_(s.ok.is_(None), r.status == "commit_failed")
    rows = db.execute(
        select(
            s.action,
            func.sum(case((ran, 1), else_=0)),
            func.sum(case((s.ok == 0, 1), else_=0)),
            func.sum(case((stopped, 1), else_=0)),
        )
        .select_from(run_steps.join(runs, and_(r.task_id == s.task_id, r.run_id == s.run_id)))
        .where(s.deferred == 1, *in_steps)
        .group_by(s.action)
        .order_by(s.action)
    )
    actions = [(tool, int(n), int(failed), int(never)) for tool, n, failed, never in rows]
    attempted = (
        select(s.task_id, s.run_id)
        .where(s.deferred == 1, ran, *in_steps)
        .group_by(s.task_id, s.run_id)
    ).subquery()
    runs_count = db.execute(select(func.count()).select_from(attempted)).scalar_one()
    return int(runs_count), [row for row in actions if row[1] or row[3]]
