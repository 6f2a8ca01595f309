"""Profiles from several folders: yours first, then the bundled ones. Pointing Handrail at your
own folder hides no bundled profile, and a name defined twice is taken from the first folder
with a warning at worker start, never silently."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from examples.store.settings import PROFILES as STORE_PROFILES
from handrail import HandrailPlugin, HandrailSettings, ProfileCatalog, ToolContext, tool
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
def test_your_folders_come_first_and_hide_no_bundled_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, joined: str
) -> None:
    first = write_profile(tmp_path / "mine", "desk", "You run the IT desk.")
    second = write_profile(tmp_path / "team", "billing", "You answer billing questions.")
    value = (
        os.pathsep.join([str(first), str(second)])
        if joined == "pathsep"
        else json.dumps([str(first), str(second)])
    )
    monkeypatch.setenv("HANDRAIL_PROFILES_DIRS", value)
    monkeypatch.delenv("HANDRAIL_PROFILES_DIR", raising=False)
    settings = HandrailSettings(_env_file=None)

    assert settings.profile_folders == [first, second, STORE_PROFILES]
    catalog = ProfileCatalog(settings.profile_folders)
    assert {"desk", "billing", "store_actions", "store_support"} <= set(catalog.names())
    assert catalog.load("store_actions").name == "store_actions"  # the bundled one, still there
    assert catalog.shadowed() == {}


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
