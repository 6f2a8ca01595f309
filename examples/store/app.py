"""The store as an app of Handrail's ready runtime: ``HANDRAIL_APP=examples.store.app:STORE_APP``
(the checkout's ``worker.py`` and ``starter.py`` host it by default).

Each field is a small function that imports what it needs when it runs: every command of the
CLI resolves the app, and ``starter.py trace X`` should not load a worker to print a trace.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from examples.store.settings import DEFAULT_PROFILE, PROFILES
from handrail.runtime.app import AgentApp
from handrail.settings import HandrailSettings

if TYPE_CHECKING:
    from handrail.model import ModelAdapter
    from handrail.plugin import HandrailPlugin
    from handrail.telemetry import Telemetry
    from handrail.testing.scripted_model import Brain
    from handrail.tools.runner import FaultHook


def _plugin(
    settings: HandrailSettings,
    *,
    model: ModelAdapter,
    telemetry: Telemetry | None,
    faults: FaultHook,
) -> HandrailPlugin:
    from examples.store.worker import store_plugin

    return store_plugin(settings, model=model, telemetry=telemetry, faults=faults)


def _create_store(settings: HandrailSettings) -> None:
    from examples.store.database import create_store
    from examples.store.settings import StoreSettings

    create_store(StoreSettings().target(settings))


def _clerk() -> Brain:
    from examples.store.clerk import StoreClerk

    return StoreClerk()


async def _demo(settings: HandrailSettings, args: argparse.Namespace) -> int:
    from examples.store.starter import cmd_demo

    return await cmd_demo(settings, args)


STORE_APP = AgentApp(
    name="store",
    plugin=_plugin,
    profiles=(PROFILES,),
    default_profile=DEFAULT_PROFILE,
    brain=_clerk,
    prepare=_create_store,
    demo=_demo,
)
