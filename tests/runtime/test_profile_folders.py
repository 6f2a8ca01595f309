"""Profiles from several folders: yours first, then the hosted app's (Handrail bundles none).
Pointing Handrail at your own folder hides no profile of the app, and a name defined twice is
taken from the first folder with a warning at worker start, never silently."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from handrail import HandrailPlugin, HandrailSettings, ToolContext, tool
from handrail.profiles.catalog import ProfileCatalog
from handrail.runtime.app import AgentApp
from handrail.testing import FunctionModel, Scenario, ToolCallReply


class TicketArgs(BaseModel):
    ticket_id: int


@tool(read_only=True)
async def lookup_ticket(args: TicketArgs, ctx: ToolContext) -> dict[str, Any]:
    """Look a ticket up."""
    return {"ticket_id": args.ticket_id}


def write_profile(folder: Path, name: str, prompt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text(
        f'name = "{name}"\nsystem_prompt = "{prompt}"\ntools = ["lookup_ticket"]\n'
    )
    return folder


@pytest.mark.parametrize("joined", ["pathsep", "json"])
def test_your_folders_come_first_and_hide_no_profile_of_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, joined: str
) -> None:
    first = write_profile(tmp_path / "mine", "desk", "You run the IT desk.")
    second = write_profile(tmp_path / "team", "billing", "You answer billing questions.")
    apps = write_profile(tmp_path / "app", "support", "You answer support questions.")
    app = AgentApp(name="support desk", profiles=(apps,), default_profile="support")
    value = (
        os.pathsep.join([str(first), str(second)])
        if joined == "pathsep"
        else json.dumps([str(first), str(second)])
    )
    monkeypatch.setenv("HANDRAIL_PROFILES_DIRS", value)
    monkeypatch.delenv("HANDRAIL_PROFILES_DIR", raising=False)
    mine = HandrailSettings(_env_file=None)
    assert mine.profile_folders == [first, second]  # nothing bundled
    settings = app.settle(mine)

    assert settings.profile_folders == [first, second, apps]
    assert app.settle(settings) == settings  # settling twice adds nothing
    assert settings.default_profile == "support"
    catalog = ProfileCatalog(settings.profile_folders)
    assert set(catalog.names()) == {"desk", "billing", "support"}
    assert catalog.load("support").name == "support"  # the app's, still there
    assert catalog.shadowed() == {}
    # A default profile of your own wins over the app's.
    assert app.settle(mine.model_copy(update={"default_profile": "desk"})).default_profile == "desk"


def test_a_name_in_two_folders_is_taken_from_the_first_and_the_worker_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mine = write_profile(tmp_path / "mine", "desk", "Mine.")
    theirs = write_profile(tmp_path / "theirs", "desk", "Theirs.")
    catalog = ProfileCatalog([mine, theirs])
    assert catalog.load("desk").system_prompt == "Mine."
    assert catalog.shadowed() == {"desk": [mine / "desk.toml", theirs / "desk.toml"]}

    settings = HandrailSettings(_env_file=None, data_dir=tmp_path / "data")
    model = FunctionModel(Scenario([ToolCallReply("final_answer", {"answer": "ok"})]))
    with caplog.at_level(logging.WARNING, logger="handrail.plugin"):
        plugin = HandrailPlugin(
            settings, tools=[lookup_ticket], model=model, profiles=[mine, theirs]
        )
    assert plugin.catalog.load("desk").system_prompt == "Mine."
    [warning] = [r.getMessage() for r in caplog.records if r.name == "handrail.plugin"]
    assert "'desk'" in warning
    assert str(mine / "desk.toml") in warning
    assert str(theirs / "desk.toml") in warning
