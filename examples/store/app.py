"""The store as an app of Handrail's ready runtime: ``HANDRAIL_APP=examples.store.app:STORE_APP``
(the checkout's ``worker.py`` and ``starter.py`` host it by default).

Each hook imports what it needs when it runs: every command of the CLI resolves the app, and
``starter.py trace X`` should not load a worker to print a trace.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from examples.store.settings import DEFAULT_PROFILE, PROFILES
from handrail import HandrailSettings
from handrail.runtime.app import AgentApp

if TYPE_CHECKING:
    from examples.store.clerk import StoreClerk
    from handrail import HandrailPlugin, ModelAdapter


def _plugin(settings: HandrailSettings, *, model: ModelAdapter, **options: Any) -> HandrailPlugin:
    from examples.store.worker import store_plugin

    return store_plugin(settings, model=model, **options)


def _create_store(settings: HandrailSettings) -> None:
    from examples.store.database import create_store
    from examples.store.settings import StoreSettings

    create_store(StoreSettings().target(settings))


def _clerk() -> StoreClerk:
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
