"""``AgentApp``: the agent the ready runtime hosts, so that a team's worker, CLI and demo are
Handrail's own commands with its tools in them.

An app is a value, not a subclass: the factory of its ``HandrailPlugin`` (its tools,
compensations, what they hold open), its profile folders (searched after the user's own), its
default profile, the scripted brain that answers when no model is configured, what to set up
before a worker starts, and an optional ``demo`` command. ``HANDRAIL_APP=module:attribute``
names it for ``handrail-worker``, ``handrail`` and ``starter.py serve``; with none, the runtime
hosts the built-in tools and the MCP servers the profiles name, which is an agent too.

The checkout's ``worker.py`` and ``starter.py`` pass the repository's example agent as their
default; ``HANDRAIL_APP`` overrides it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from handrail.errors import UserError
from handrail.settings import HandrailSettings

if TYPE_CHECKING:  # every CLI command resolves the app: it must not load a worker's modules
    from handrail.model.adapter import ModelAdapter
    from handrail.plugin import HandrailPlugin
    from handrail.telemetry.core import Telemetry
    from handrail.testing.scripted_model import Brain
    from handrail.tools.runner import FaultHook

APP_SETTING = "HANDRAIL_APP"


class PluginFactory(Protocol):
    """Builds the app's plugin for one worker. ``faults`` is the tools' testing seam
    (``handrail.tools.runner``); pass it and ``telemetry`` on to ``HandrailPlugin``."""

    def __call__(
        self,
        settings: HandrailSettings,
        *,
        model: ModelAdapter,
        telemetry: Telemetry | None,
        faults: FaultHook,
    ) -> HandrailPlugin: ...


DemoCommand = Callable[[HandrailSettings, argparse.Namespace], Awaitable[int]]
"""``handrail demo``: runs with the CLI's settings (the app's folders and default profile in
them) and parsed arguments (``--serve``, ``telemetry``); returns the exit code."""


@dataclass(frozen=True, kw_only=True)
class AgentApp:
    """What the runtime hosts. Every field but ``name`` is optional."""

    name: str
    plugin: PluginFactory | None = None
    """Builds the worker's plugin; none: built-in tools and the profiles' MCP servers only."""
    profiles: tuple[Path, ...] = ()
    """The app's profile folders, searched after the user's (``HANDRAIL_PROFILES_DIRS``)."""
    default_profile: str | None = None
    """The profile of a task that names none, unless ``HANDRAIL_DEFAULT_PROFILE`` says."""
    brain: Callable[[], Brain] | None = None
    """Answers for the scripted model server when no model is configured (none: a neutral
    brain that says it is scripted)."""
    prepare: Callable[[HandrailSettings], None] | None = None
    """Run once before a worker starts, e.g. to create the app's own database (idempotent:
    every replica runs it)."""
    demo: DemoCommand | None = None

    def settle(self, settings: HandrailSettings) -> HandrailSettings:
        """``settings`` with this app's profile folders after the user's, and its default
        profile where the settings name none. Idempotent."""
        return with_profiles(settings, self.profiles, self.default_profile)


def with_profiles(
    settings: HandrailSettings, folders: tuple[Path, ...], default_profile: str | None = None
) -> HandrailSettings:
    """``settings`` searching ``folders`` after its own profile folders, with
    ``default_profile`` where the settings name none (a copy; the same object if nothing
    changes)."""
    missing = [folder for folder in folders if folder not in settings.profile_folders]
    update: dict[str, object] = {}
    if missing:
        update["profiles_dirs"] = [*settings.profiles_dirs, *missing]
    if settings.default_profile is None and default_profile is not None:
        update["default_profile"] = default_profile
    return settings.model_copy(update=update) if update else settings


BARE_APP = AgentApp(name="handrail")
"""No app: Handrail's built-in tools and the MCP servers the profiles name."""


def load_app(spec: str) -> AgentApp:
    """The ``AgentApp`` that ``spec`` (``module:attribute``) names; ``UserError`` says why not."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute.isidentifier():
        raise UserError(f"{APP_SETTING}={spec!r} is not module:attribute (e.g. myagent.app:APP)")
    # As uvicorn does with its app: a module in the working folder imports without being
    # installed (console scripts, unlike `python worker.py`, do not put it on the path).
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise UserError(
            f"{APP_SETTING}={spec!r}: cannot import {module_name!r} ({error}); run from the "
            "folder that holds it, or install it"
        ) from None
    app = getattr(module, attribute, None)
    if not isinstance(app, AgentApp):
        found = "nothing" if app is None else type(app).__name__
        raise UserError(f"{APP_SETTING}={spec!r} names {found}, not an AgentApp")
    return app


def resolve_app(settings: HandrailSettings, default: str | AgentApp | None = None) -> AgentApp:
    """The app to host: ``HANDRAIL_APP`` if set, else ``default``, else ``BARE_APP``."""
    chosen = settings.app or default
    if chosen is None:
        return BARE_APP
    return chosen if isinstance(chosen, AgentApp) else load_app(chosen)
