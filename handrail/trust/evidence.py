"""The evidence behind earned autonomy: reviewers' agreement with a tool, and its trouble rate.

Promotion reads :class:`Agreement` (approved unchanged / decided reviews and policy denials);
demotion also reads :class:`Trouble` — every action since the tool's last change, trouble when
the policy denied it or a reviewer did not approve it unchanged — through a one-sided binomial
test (:func:`trouble_demotes`): promote slowly on many reviews, demote fast on strong evidence.
Both count a denial against the tool: a proposal the policy refused is one no reviewer would
have approved, and a promotion that ignored them would re-promote the tool whose denials had
just demoted it (the trust benchmark saw that flapping, docs/earned-trust.md).
``handrail.trust.autonomy`` turns both into recommendations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from pydantic import BaseModel, Field, computed_field

from handrail.profiles.catalog import AutonomyBar

DEMOTE_WINDOW: Final = 20
"""The newest actions (since the tool's last change) that can demote it on their own: about 40
tasks of a tool with half the traffic, so a drift shows within the benchmark's 50 tasks."""
DEMOTE_MIN_ACTIONS: Final = 5
"""No demotion on fewer actions than this since the last change."""
DEMOTE_ALPHA: Final = 0.05
"""The test's false-alarm rate per check on a tool exactly at the promotion bar. A healthy tool
errs well below the bar (2% vs 5% in the benchmark), so its false demotions are rarer; a false
demotion costs reviews until the tool re-earns its level, a late one costs bad actions."""
TROUBLE_VERDICTS: Final = ("edit", "reject", "answer")


class Agreement(BaseModel):
    """Reviewers' verdicts on one tool's proposals, and (for promotion) the proposals the
    policy denied before any reviewer saw them."""

    approved: int = 0
    edited: int = 0
    rejected: int = 0
    answered: int = 0
    denied: int = Field(
        default=0,
        description="Proposals the policy denied (over the same newest actions): each counts "
        "against agreement as a rejection would.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reviews(self) -> int:
        return self.approved + self.edited + self.rejected + self.answered

    @computed_field  # type: ignore[prop-decorator]
    @property
    def agreement(self) -> float | None:
        """Approved unchanged / (decided reviews + denials); ``None`` with neither."""
        judged = self.reviews + self.denied
        return self.approved / judged if judged else None

    @classmethod
    def of(cls, verdicts: Iterable[str]) -> Agreement:
        counts = {"approve": 0, "edit": 0, "reject": 0, "answer": 0}
        for verdict in verdicts:
            if verdict in counts:
                counts[verdict] += 1
        return cls(
            approved=counts["approve"],
            edited=counts["edit"],
            rejected=counts["reject"],
            answered=counts["answer"],
        )

    @classmethod
    def of_counts(cls, counts: dict[str, int]) -> Agreement:
        return cls(
            approved=counts.get("approve", 0),
            edited=counts.get("edit", 0),
            rejected=counts.get("reject", 0),
            answered=counts.get("answer", 0),
        )


class Trouble(BaseModel):
    """A tool's newest actions: how many, and how many were trouble (denied by the policy, or
    not approved unchanged in review)."""

    actions: int = 0
    denied: int = 0
    disagreed: int = 0

    @property
    def troubles(self) -> int:
        return self.denied + self.disagreed

    @classmethod
    def of(cls, steps: Iterable[tuple[str | None, str | None]]) -> Trouble:
        """From (gate action, review verdict) pairs."""
        found = cls()
        for gate, verdict in steps:
            found.actions += 1
            found.denied += gate == "deny"
            found.disagreed += verdict in TROUBLE_VERDICTS
        return found


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p): the chance of ``k`` troubles or more in ``n`` actions
    if the tool's trouble rate were ``p``."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def trouble_demotes(
    trouble: Trouble, bar: AutonomyBar, *, alpha: float = DEMOTE_ALPHA
) -> float | None:
    """The test's p-value when it rejects "trouble rate ≤ 1 - promote_at" at ``alpha``;
    ``None`` when the evidence does not (yet) say so."""
    if trouble.actions < DEMOTE_MIN_ACTIONS or trouble.troubles == 0:
        return None
    tail = binomial_tail(trouble.troubles, trouble.actions, 1 - bar.promote_at)
    return tail if tail <= alpha else None
