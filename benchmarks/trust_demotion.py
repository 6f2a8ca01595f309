"""``python -m benchmarks.trust_demotion [--draws 3000] [--seed 5]``: how often the demotion test
can meet "demoted within 50 tasks", and what it costs healthy tools, by Monte Carlo.

The trust simulation (``benchmarks.trust_sim``) measures a handful of seeds; this runs the
demotion rule alone over thousands of draws of the same world, so a seed that misses can be
read against the rate the data allow. Each draw: a tool promoted at task 40 gets each task with
probability 1/2; its actions are trouble (denied, or not approved unchanged in review) with
the healthy rate until task 400 and the drifted rate after; the rule is checked after every
action, as the worker's automatic demotion does. The default rule is Handrail's own
(``handrail.trust.evidence``: its window, its test at the promotion bar's 5%); the variants
change one knob each. Printed per rule: demoted within 50 tasks of the rise, demoted before it
(a false demotion that also makes the drift's demotion impossible), and healthy tools (no
drift) falsely demoted within the run.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

from handrail.profiles.catalog import AutonomyBar
from handrail.trust.evidence import DEMOTE_ALPHA, DEMOTE_WINDOW, Trouble, trouble_demotes

PROMOTED_AT, DRIFT_AT, TASKS, WITHIN = 40, 400, 1000, 50
Rule = Callable[[list[bool]], bool]


def rule(window: int = DEMOTE_WINDOW, alpha: float = DEMOTE_ALPHA) -> Rule:
    """Handrail's trouble test over the newest ``window`` actions at ``alpha`` (defaults: the
    rule the worker applies)."""
    bar = AutonomyBar()

    def demotes(actions: list[bool]) -> bool:
        newest = actions[-window:]
        trouble = Trouble(actions=len(newest), denied=sum(newest))
        return trouble_demotes(trouble, bar, alpha=alpha) is not None

    return demotes


def demoted_at(demotes: Rule, healthy: float, drifted: float, draw: random.Random) -> int | None:
    """The task after which ``demotes`` first fires, or ``None``."""
    actions: list[bool] = []
    for task in range(PROMOTED_AT, TASKS):
        if draw.random() < 0.5:
            actions.append(draw.random() < (drifted if task >= DRIFT_AT else healthy))
            if demotes(actions):
                return task + 1
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rules = {
        f"Handrail's (window {DEMOTE_WINDOW}, alpha {DEMOTE_ALPHA})": rule(),
        "alpha 0.10": rule(alpha=0.10),
        "alpha 0.02": rule(alpha=0.02),
        "window 30": rule(window=30),
    }
    print(f"{args.draws} draws, seed {args.seed}; healthy 2% trouble, drifted from task {DRIFT_AT}")
    print("| rule | drifted to | within 50 tasks | before the drift | healthy tool demoted |")
    print("|---|---|---|---|---|")
    for name, demotes in rules.items():
        for drifted in (0.25, 0.18):
            draw = random.Random(args.seed)
            found = [demoted_at(demotes, 0.02, drifted, draw) for _ in range(args.draws)]
            within = sum(t is not None and DRIFT_AT <= t <= DRIFT_AT + WITHIN for t in found)
            early = sum(t is not None and t < DRIFT_AT for t in found)
            healthy = sum(
                demoted_at(demotes, 0.02, 0.02, draw) is not None for _ in range(args.draws // 2)
            )
            print(
                f"| {name} | {drifted:.0%} | {within / args.draws:.0%} | "
                f"{early / args.draws:.0%} | {healthy / (args.draws // 2):.0%} |"
            )


if __name__ == "__main__":
    main()
