"""A ``Replayer`` built with ``HandrailPlugin`` replays a saved history and writes nothing
anywhere: no state database created or migrated, no tool declared, no file at all. Replaying is
how a team checks a deployment against recorded runs, often on a laptop or in CI, beside (or
without) the production state database."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from handrail import ToolContext, tool
from handrail.plugin import HandrailPlugin
from handrail.settings import HandrailSettings
from handrail.testing import FunctionModel, Scenario, TextReply

HISTORY = Path(__file__).parents[1] / "histories" / "pricing_answered.json"


class PriceArgs(BaseModel):
    product: str


@tool(read_only=True)
async def lookup_price(args: PriceArgs, ctx: ToolContext) -> dict[str, str]:
    """Never called: replay runs no activity."""
    raise AssertionError("a replay must not run a tool")


def _files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


async def test_a_replayer_with_the_plugin_writes_nothing(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "prices.toml").write_text(
        'name = "prices"\nsystem_prompt = "Answer prices."\ntools = ["lookup_price"]\n'
    )
    before = _files_under(tmp_path)
    state_db = tmp_path / "state" / "handrail.db"
    settings = HandrailSettings(
        _env_file=None,
        data_dir=tmp_path / "data",
        state_url=f"sqlite+aiosqlite:///{state_db}",
        embedded_server=False,
    )
    plugin = HandrailPlugin(
        settings,
        tools=[lookup_price],
        model=FunctionModel(Scenario([TextReply("unused")])),
        profiles=[profiles],
    )
    replayer = Replayer(workflows=[], plugins=[plugin])

    history = WorkflowHistory.from_json(HISTORY.stem, HISTORY.read_text())
    result = await replayer.replay_workflow(history)

    assert result.replay_failure is None
    assert not state_db.parent.exists(), "replaying created the state database's folder"
    assert not (tmp_path / "data").exists()
    assert _files_under(tmp_path) == before
