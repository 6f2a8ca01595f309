"""Calibrated confidence: which ``min_confidence`` keeps auto-approved actions' error rate under
the profile's target, with the evidence behind it. Pure functions, standard library only.

The model states a confidence with every action; the gate compares it with the rule's
``min_confidence``. Whether a stated 0.9 means anything is an empirical question, and the ledger
holds the answers: every reviewed action has a stated confidence and a reviewer's verdict. An
action is *bad* when the reviewer did not approve it unchanged (rejected, edited or answered
instead, as agreement counts it: ``handrail.trust.autonomy``).

For each candidate threshold ``t`` (every distinct confidence reviewers saw), the reviewed
actions stating at least ``t`` are ``n`` draws with ``k`` bad ones; the one-sided 95%
Clopper-Pearson upper bound on their error rate is the largest rate under which seeing ``k`` or
fewer bad ones still had a 5% chance. No point estimate is ever recommended: ``k = 0`` over 20
reviews is a bound of 13.9%, not 0%. The thresholds are walked from the strictest down: the top
ones, with few reviews, say nothing yet and are passed over; once one holds, the walk goes on
while they hold and stops at the first that does not (fixed-sequence testing, as in
Learn-then-Test, from there on), so a bad cluster part way down ends the walk rather than being
averaged away by many clean reviews below it. The recommendation is the lowest that held. None
held: "not enough evidence", whatever the point estimates say.

What the bound covers: the reviewed actions, which are those the gate sent to review (low
confidence, amounts, a ``suggest`` level, the autonomous ``review_sample``). Lowering a
threshold lets through actions like those that were reviewed at that confidence; an
autonomous tool's ``review_sample`` is the unbiased sample of what runs unreviewed.

The same walk runs on ``Decision.logprob_confidence`` (the reply's mean token probability) where
the endpoint returned log-probabilities, so the two signals can be compared: at the same target,
the better signal lets more of the reviewed actions through (``coverage``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, Field

LEVEL: Final = 0.95  # one-sided confidence of every bound here
BAD_VERDICTS: Final = frozenset({"edit", "reject", "answer"})
Signal = Literal["stated", "logprob"]


def _log_binomial_cdf(k: int, n: int, p: float) -> float:
    """log P(X ≤ k) for X ~ Binomial(n, p), summed in log space (no overflow at any n)."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 0.0 if k >= n else -math.inf
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return top + math.log(sum(math.exp(term - top) for term in terms))


def clopper_pearson_upper(bad: int, trials: int, level: float = LEVEL) -> float:
    """The exact one-sided upper confidence bound on a binomial rate: the ``p`` at which
    P(X ≤ bad) = 1 - ``level``, found by bisection (the CDF falls as ``p`` grows). It equals the
    Beta(bad + 1, trials - bad) quantile at ``level``; with no bad draw, 1 - (1 - level)^(1/n).
    No trials, or all bad: 1."""
    if not 0 <= bad <= trials:
        raise ValueError(f"bad draws ({bad}) must lie in 0..trials ({trials})")
    if trials == 0 or bad == trials:
        return 1.0
    alpha = math.log(1.0 - level)
    low, high = bad / trials, 1.0
    for _ in range(100):  # 2^-100: far below any digit shown
        middle = (low + high) / 2
        if _log_binomial_cdf(bad, trials, middle) > alpha:
            low = middle
        else:
            high = middle
    return high


class Threshold(BaseModel):
    """The reviewed actions at or above one confidence threshold."""

    threshold: float
    actions: int = Field(description="Reviewed actions stating at least the threshold.")
    bad: int = Field(description="Of those, how many reviewers did not approve unchanged.")
    upper_bound: float = Field(description="One-sided 95% upper bound on their error rate.")


class Calibration(BaseModel):
    """One tool's confidence calibrated against its reviews, for one signal."""

    profile: str
    tool: str
    signal: Signal = Field(description="`stated` confidence, or `logprob` (mean token prob).")
    target: float = Field(description="The profile's target_error_rate.")
    reviews: int = Field(description="Reviewed actions with a usable value of the signal.")
    bad: int
    recommended: Threshold | None = Field(
        default=None, description="The lowest threshold that held; None: not enough evidence."
    )
    coverage: float | None = Field(
        default=None, description="Share of the reviewed actions at or above `recommended`."
    )
    strictest: Threshold | None = Field(
        default=None, description="The highest threshold's evidence (why nothing held)."
    )
    reason: str = ""


@dataclass(frozen=True)
class Reviewed:
    """One reviewed action: its tool, both confidence signals, and whether it was bad."""

    profile: str
    tool: str
    stated: float | None
    logprob: float | None
    bad: bool


def _needed(target: float, level: float = LEVEL) -> int:
    """Clean reviews needed before a bound can reach ``target`` at all (no bad one among them)."""
    return math.ceil(math.log(1.0 - level) / math.log1p(-target))


def calibrate(
    profile: str,
    tool: str,
    samples: Sequence[tuple[float, bool]],
    *,
    target: float,
    signal: Signal = "stated",
) -> Calibration:
    """Walk the thresholds of ``samples`` ((value, bad) pairs) from the strictest down; the
    recommendation is the lowest that held before the first bound above ``target`` that came
    after one held (see the module's docstring)."""
    bad_total = sum(1 for _, bad in samples if bad)
    found = Calibration(
        profile=profile,
        tool=tool,
        signal=signal,
        target=target,
        reviews=len(samples),
        bad=bad_total,
    )
    if not samples:
        found.reason = "not enough evidence: no reviewed actions"
        return found
    ordered = sorted(samples, key=lambda sample: -sample[0])
    actions = bad = 0
    held: Threshold | None = None
    index = 0
    while index < len(ordered):
        value = ordered[index][0]
        while index < len(ordered) and ordered[index][0] == value:  # a threshold takes ties
            actions += 1
            bad += ordered[index][1]
            index += 1
        step = Threshold(
            threshold=value,
            actions=actions,
            bad=bad,
            upper_bound=clopper_pearson_upper(bad, actions),
        )
        if found.strictest is None:
            found.strictest = step
        if step.upper_bound <= target:
            held = step
        elif held is not None:
            break  # the first failure after one held ends the walk

    found.recommended = held
    if held is not None:
        found.coverage = held.actions / len(samples)
        found.reason = (
            f"{held.bad} bad of {held.actions} reviewed at ≥ {held.threshold:.2f}: "
            f"error rate ≤ {held.upper_bound:.2%} (95%)"
        )
    else:
        found.reason = (
            f"not enough evidence: {bad_total} bad of {len(samples)} reviewed; a bound of "
            f"{target:.1%} needs at least {_needed(target)} clean reviews above the threshold"
        )
    return found


def calibrate_all(
    reviewed: Iterable[Reviewed],
    *,
    target: float,
    signals: Sequence[Signal] = ("stated", "logprob"),
) -> list[Calibration]:
    """Every (profile, tool)'s calibration, stated confidence first; the logprob signal only
    where some reviewed action carries it."""
    grouped: dict[tuple[str, str], list[Reviewed]] = {}
    for item in reviewed:
        grouped.setdefault((item.profile, item.tool), []).append(item)
    found = []
    for (profile, tool), items in sorted(grouped.items()):
        for signal in signals:
            values = [(i.stated if signal == "stated" else i.logprob, i.bad) for i in items]
            samples = [(value, bad) for value, bad in values if value is not None]
            if signal == "logprob" and not samples:
                continue
            found.append(calibrate(profile, tool, samples, target=target, signal=signal))
    return found
