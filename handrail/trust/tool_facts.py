"""What ``stats``, ``promote`` and ``demote`` know about each tool: whether it only reads, what
undoes it, whether it is irreversible. A tool without a ``[rules.TOOL]`` table in its profile
runs at the level the loader gives it by default (``activities/profiles.py``): autonomous when
it reads only, supervised otherwise; so an assessment or an edit of such a tool needs the fact.

The facts come from whoever knows them, most authoritative first (:meth:`ToolFacts.merged`):

- what the workers declared: each writes the tools it registers into the state database when
  it starts (``handrail.storage.declared_tools``), so ``stats``, ``promote`` and ``demote``
  know a team's own tools without importing them; or a registry or a loaded profile's
  bindings, when the caller has one (a worker);
- the profile files: every tool they enable is known by name, and a rule's ``effect`` says
  what a tool no worker declares does (an MCP tool's);
- what runs recorded in the ledger: a step that was deferred to the commit point belongs to an
  irreversible tool; a step a rollback undid belongs to a compensated one; and a step that ran
  and succeeded in a run that rolled back, without being deferred or undone, belongs to a
  read-only tool, because the workflow pushes the undo of every other tool before it runs it
  (``workflows/agent.py``) and a rollback undoes everything pushed. A tool ever seen with an
  effect is never taken for read-only.

A fact nobody knows stays ``None``, never a guess; :func:`handrail.trust.autonomy.
current_level` treats an unknown ``read_only`` as the loader treats any tool it is not told
reads only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Protocol

from handrail.contracts import ToolBinding
from handrail.contracts.outcomes import NON_TOOL_ACTIONS
from handrail.errors import InvalidProfileError, UnknownProfileError
from handrail.profiles.catalog import ProfileCatalog
from handrail.storage.declared_tools import DeclaredTools
from handrail.storage.ledger import RunLedger
from handrail.storage.ledger_evidence import recorded_actions, tool_evidence
from handrail.tools.facts import StatesItsEffect, effect_of, effect_of_rule

# Endings after which the workflow compensated everything it had done (docs/architecture.md,
# "Which endings roll back"). Not needs_recovery: there a compensation failed, and its step
# would look like one that had nothing to undo.
ROLLED_BACK: Final = (
    "escalated",
    "budget_exhausted",
    "failed",
    "cancelled",
    "rejected",
    "review_expired",
)


class ToolSource(Protocol):
    """What a tool registry offers (``handrail.tools.ToolRegistry`` fits, and so does the
    workers' declarations by name)."""

    def get(self, name: str, /) -> StatesItsEffect | None: ...


@dataclass(frozen=True)
class ToolFact:
    """One tool; ``None`` means not known."""

    name: str
    read_only: bool | None = None
    compensation: str | None = None
    irreversible: bool | None = None


class ToolFacts(Mapping[str, ToolFact]):
    """Facts by tool name (immutable; combine with :meth:`merged`)."""

    def __init__(self, facts: Iterable[ToolFact] = ()) -> None:
        self._facts = {fact.name: fact for fact in facts}

    def __getitem__(self, name: str) -> ToolFact:
        return self._facts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    def read_only(self, name: str) -> bool | None:
        fact = self._facts.get(name)
        return None if fact is None else fact.read_only

    def merged(self, weaker: ToolFacts) -> ToolFacts:
        """These facts, with what only ``weaker`` knows filled in."""
        combined = dict(weaker._facts)
        for name, fact in self._facts.items():
            other = combined.get(name)
            if other is not None:
                fact = replace(
                    fact,
                    read_only=other.read_only if fact.read_only is None else fact.read_only,
                    compensation=fact.compensation or other.compensation,
                    irreversible=(
                        other.irreversible if fact.irreversible is None else fact.irreversible
                    ),
                )
            combined[name] = fact
        return ToolFacts(combined.values())

    @classmethod
    def from_registry(cls, registry: ToolSource, names: Iterable[str]) -> ToolFacts:
        """The facts ``registry`` declares for ``names`` (names it does not know are left
        out)."""
        found = []
        for name in names:
            spec = registry.get(name)
            if spec is not None:
                found.append(ToolFact(name, **effect_of(spec)))
        return cls(found)

    @classmethod
    def from_bindings(cls, bindings: Iterable[ToolBinding]) -> ToolFacts:
        """The facts a loaded profile carries (``Profile.tools``)."""
        return cls(ToolFact(binding.name, **effect_of(binding)) for binding in bindings)

    @classmethod
    def named(cls, names: Iterable[str]) -> ToolFacts:
        """Tools known by name only (those the profile files enable)."""
        return cls(ToolFact(name) for name in names)

    @classmethod
    def from_recorded(cls, rows: Iterable[tuple[str, bool, bool, bool]]) -> ToolFacts:
        """What recorded runs show, from ``ledger_evidence.tool_evidence`` rows: (tool, ever
        deferred, ever compensated, ever ran uncompensated in a rollback). Why each inference
        holds: see the module docstring."""
        found = []
        for tool, deferred, compensated, ran_in_rollback in rows:
            if deferred:
                found.append(ToolFact(tool, read_only=False, irreversible=True))
            elif compensated:
                found.append(ToolFact(tool, read_only=False, irreversible=False))
            elif ran_in_rollback:
                found.append(ToolFact(tool, read_only=True, irreversible=False))
        return cls(found)


def profile_facts(profiles_dirs: Iterable[Path]) -> ToolFacts:
    """What the profile files in ``profiles_dirs`` say: every tool they enable, by name, and
    what a rule's ``effect`` (and ``compensation``) says of a tool no worker declares."""
    found: dict[str, ToolFact] = {}
    for directory in profiles_dirs:
        catalog = ProfileCatalog(directory)
        for name in catalog.names():
            try:
                profile = catalog.load(name)
            except (InvalidProfileError, UnknownProfileError):
                continue  # a broken profile is the error of whoever loads it, not of stats
            for tool in profile.tools:
                found.setdefault(tool, ToolFact(tool))
            for tool, rule in profile.rules.items():
                known = found.get(tool)
                if rule.effect is not None and (known is None or known.read_only is None):
                    found[tool] = ToolFact(tool, **effect_of_rule(rule))
    return ToolFacts(found.values())


def recorded_facts(ledger: RunLedger, profiles_dirs: Iterable[Path]) -> ToolFacts:
    """What the profile files in ``profiles_dirs`` and the runs in ``ledger`` say about every
    tool either names, the files first."""
    actions = {action for _, action in recorded_actions(ledger) if action not in NON_TOOL_ACTIONS}
    runs = ToolFacts.from_recorded(tool_evidence(ledger, ROLLED_BACK))
    return profile_facts(profiles_dirs).merged(runs).merged(ToolFacts.named(sorted(actions)))


def known_facts(ledger: RunLedger, profiles_dirs: Iterable[Path]) -> ToolFacts:
    """Every tool's facts as ``stats``, ``promote`` and ``demote`` use them, where no worker's
    registry is at hand: what the workers declared in the ledger's state database, then what
    the profile files say, then what the recorded runs show."""
    declared = DeclaredTools(ledger.database).all()
    return ToolFacts.from_registry(declared, declared).merged(recorded_facts(ledger, profiles_dirs))
