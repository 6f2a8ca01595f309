"""The ready runtime hosts an app, or none: ``HANDRAIL_APP`` names it, an app's profile folders
come after the user's, and a task that names no profile runs the default one (filled in by the
client, resolved by the worker for any other caller), or is refused, saying so."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from handrail.cli.main import build_parser
from handrail.client.core import HandrailClient
from handrail.errors import InvalidTaskError, TaskFailedError, UserError
from handrail.names import WORKFLOW_TYPE
from handrail.runtime.app import BARE_APP, AgentApp, load_app, resolve_app
from handrail.runtime.worker import running_worker
from handrail.settings import HandrailSettings
from handrail.testing.kit import settings_for_test
from handrail.testing.scripted_model import SCRIPTED_ANSWER, ScriptedModelServer

PLAIN = AgentApp(name="plain")


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("handrail.runtime.app", "is not module:attribute"),
        ("handrail.runtime.app:", "is not module:attribute"),
        ("no_such_module_here:APP", "cannot import 'no_such_module_here'"),
        ("handrail.settings:HandrailSettings", "names ModelMetaclass, not an AgentApp"),
        ("handrail.runtime.app:NOTHING", "names nothing, not an AgentApp"),
    ],
)
def test_an_app_that_cannot_be_loaded_is_named_with_the_reason(spec: str, problem: str) -> None:
    with pytest.raises(UserError, match="HANDRAIL_APP=") as refused:
        load_app(spec)
    assert problem in str(refused.value)


def test_the_setting_names_the_app_else_the_default_else_none() -> None:
    named = HandrailSettings(_env_file=None, app="tests.runtime.test_runtime_app:PLAIN")
    assert resolve_app(named, BARE_APP) is PLAIN
    unnamed = HandrailSettings(_env_file=None)
    assert resolve_app(unnamed, "tests.runtime.test_runtime_app:PLAIN") is PLAIN
    assert resolve_app(unnamed, PLAIN) is PLAIN
    assert resolve_app(unnamed) is BARE_APP


def _desk(folder: Path) -> AgentApp:
    """An app with no tools of its own: built-in tools, one profile, its default."""
    folder.mkdir(parents=True)
    (folder / "desk.toml").write_text('name = "desk"\nsystem_prompt = "You help."\ntools = []\n')
    return AgentApp(name="desk", profiles=(folder,), default_profile="desk")


def _settings(client: Client, tmp_path: Path, server: ScriptedModelServer) -> HandrailSettings:
    return settings_for_test(
        client,
        tmp_path / "data",
        openai_base_url=server.base_url,
        openai_api_key=SecretStr("scripted"),
    )


async def test_an_app_without_tools_runs_a_task_that_names_no_profile(
    client: Client, tmp_path: Path
) -> None:
    app = _desk(tmp_path / "profiles")
    with ScriptedModelServer() as server:  # its default brain: the neutral one
        settings = app.settle(_settings(client, tmp_path, server))
        async with running_worker(client, settings, app=app):
            handrail = HandrailClient(client, settings)
            handle = await handrail.start_task({"goal": "What can you do?"})
            result = await handrail.get_result(handle.id)
            trace = await handrail.get_trace(handle.id)
            # Another client (any SDK, the temporal CLI) may leave the profile out: the
            # worker runs its default, and the trace names it.
            foreign = await client.start_workflow(
                WORKFLOW_TYPE,
                {"goal": "Hello?"},
                id=f"foreign-{uuid.uuid4().hex[:8]}",
                task_queue=settings.task_queue,
            )
            await foreign.result()
            foreign_trace = await handrail.get_trace(foreign.id)

    assert (result.status, result.answer) == ("answered", SCRIPTED_ANSWER)
    assert trace.profile == "desk"
    assert foreign_trace.profile == "desk"
    assert foreign_trace.answer == SCRIPTED_ANSWER


async def test_a_task_naming_no_profile_with_no_default_is_refused(
    client: Client, tmp_path: Path
) -> None:
    app = _desk(tmp_path / "profiles")
    with ScriptedModelServer() as server:
        no_default = app.settle(_settings(client, tmp_path, server)).model_copy(
            update={"default_profile": None}
        )
        handrail = HandrailClient(client, no_default)
        with pytest.raises(InvalidTaskError, match=r"names no profile.*known: desk"):
            await handrail.start_task({"goal": "What can you do?"})
        async with running_worker(client, no_default):  # no app: its default is not there
            foreign = await client.start_workflow(
                WORKFLOW_TYPE,
                {"goal": "Hello?"},
                id=f"foreign-{uuid.uuid4().hex[:8]}",
                task_queue=no_default.task_queue,
            )
            with pytest.raises(TaskFailedError, match="names no profile"):
                await handrail.get_result(foreign.id)


def test_the_demo_command_is_there_when_the_app_has_a_demo() -> None:
    async def demo(settings: HandrailSettings, args: argparse.Namespace) -> int:
        return 0

    with_demo = build_parser(AgentApp(name="shop", demo=demo))
    assert with_demo.parse_args(["demo", "--serve"]).handler is demo
    with pytest.raises(SystemExit):  # argparse: an invalid choice, exit 2
        build_parser(BARE_APP).parse_args(["demo"])
