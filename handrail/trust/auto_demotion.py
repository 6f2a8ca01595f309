"""Automatic demotion: the worker narrows a tool's autonomy as soon as the evidence says so.

Promotion widens what runs unreviewed, so it stays a person's act (``starter.py promote``).
Demotion only narrows it: more of the tool's actions go to a person. Waiting for someone to read
``stats`` only lets a drifting tool keep acting at a level it no longer earns (the trust
benchmark's operator, reading every 10 tasks, lost up to 10 tasks each time; see
docs/earned-trust.md). So after every run the ledger stores (an observer of the ``record_run``
activity), the tools that run shows in trouble (a denial, a review not approved unchanged: only
new trouble can newly demote) are assessed exactly as ``stats`` assesses them
(``handrail.trust.autonomy.assess_profile``), and a demotion it recommends is applied at once
through ``promote``/``demote``'s own code path (``handrail.trust.promotion.apply_change``:
the level and its audit entry in one transaction), by :data:`AUTOMATIC`, with the reason and
the evidence. The level the assessment saw is passed as ``expected``: when a person or another
worker host changed the tool meanwhile, their change stands and this one is dropped.

The change is dated by the run's end (``RunRecord.finished_at``, workflow time), the clock the
ledger's rows are read against, so the run that demoted a tool is not counted again as
evidence at its new level. A profile turns this off with ``[autonomy] auto_demote = false``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from handrail.contracts import RunRecord
from handrail.errors import UserError
from handrail.profiles.catalog import ProfileCatalog
from handrail.storage.autonomy_log import AutonomyLog
from handrail.storage.ledger import RunLedger
from handrail.trust.autonomy import AutonomyChange, assess_profile
from handrail.trust.evidence import TROUBLE_VERDICTS
from handrail.trust.promotion import apply_change
from handrail.trust.tool_facts import ToolFacts

log = logging.getLogger("handrail.autonomy")

AUTOMATIC: Final = "handrail (automatic)"
"""Who the audit log names for a demotion the worker applied."""


class AutoDemotion:
    """A ``record_run`` observer: demote the run's tools that the trouble test flags."""

    def __init__(
        self, catalog: ProfileCatalog, ledger: RunLedger, tools: ToolFacts | None = None
    ) -> None:
        self._catalog = catalog
        self._ledger = ledger
        self._log = AutonomyLog(ledger.database)
        self._tools = tools or ToolFacts()

    async def __call__(self, record: RunRecord) -> None:
        # A few queries on the state database: off the worker's event loop.
        await asyncio.to_thread(self.check, record)

    def check(self, record: RunRecord) -> list[AutonomyChange]:
        """Assess the tools ``record`` shows in trouble; apply each demotion recommended."""
        # Only new trouble can newly demote: a clean action only adds to the test's denominator
        # (or replaces an older one in its window) and an approval only raises agreement. So a
        # clean run, the common case, costs no query at all.
        troubled = {
            step.decision.tool
            for step in record.steps
            if step.decision.tool
            and step.gate is not None
            and (
                step.gate.action == "deny"
                or (step.review is not None and step.review.verdict in TROUBLE_VERDICTS)
            )
        }
        if not troubled:
            return []
        file = self._catalog.load(record.profile)
        if not file.autonomy.auto_demote:
            return []
        applied = []
        for found in assess_profile(
            self._ledger, file, self._log, tools=self._tools, only=troubled
        ):
            if found.advice != "demote":
                continue
            try:
                change = apply_change(
                    self._catalog,
                    file.name,
                    found.tool,
                    "demote",
                    AUTOMATIC,
                    f"automatic, after task {record.task_id}: {found.reason}",
                    log=self._log,
                    evidence=found.evidence,
                    recommended=True,
                    tools=self._tools,
                    now=record.finished_at,
                    expected=found.level,
                )
            except UserError as error:  # changed meanwhile by someone else: theirs stands
                log.info("no automatic demotion of %s in %s: %s", found.tool, file.name, error)
                continue
            log.warning(
                "demoted %s in %s: %s → %s (%s)",
                found.tool,
                file.name,
                change.from_level,
                change.to_level,
                found.reason,
            )
            applied.append(change)
        return applied
