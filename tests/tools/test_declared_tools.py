"""Tool facts from the workers (issue 11): a worker writes the tools it registers into the state
database when it starts, and ``stats``, ``demote`` and the HTTP gateway read them there, with
none of the tools imported and nothing of the store example's, on SQLite and PostgreSQL.

The tools are declared here, under names no store tool has, in a profile without rules: so a
tool's starting level depends on whether it only reads, and only the worker's declaration says
that ``search_tickets`` does (the task commits, so no rollback lets the runs infer it either).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
from pydantic import BaseModel, ConfigDict, SecretStr
from temporalio.client import Client

from handrail import ToolContext, UndoContext, compensation, tool
from handrail.http import create_app, running_server, token_hash
from handrail.http.auth import COOKIE_NAME
from handrail.storage.declared_tools import DeclaredTool, DeclaredTools
from handrail.storage.ledger import RunLedger
from handrail.testing import (
    FunctionModel,
    Scenario,
    ToolCallReply,
    agent_worker,
    settings_for_test,
)
from handrail.trust.tool_facts import known_facts

ROOT = Path(__file__).resolve().parents[2]
ALICE = "hrt_test_alice_declared_token"

PROFILE = """
name = "desk"
system_prompt = "You look tickets up and credit accounts."
tools = ["search_tickets", "grant_credit"]

[[review_tiers]]
name = "desk"
reviewers = ["alice"]
deadline = "PT1H"
"""


class Search(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str


class Credit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: int
    credit: Decimal


@tool(read_only=True)
async def search_tickets(args: Search, ctx: ToolContext) -> dict[str, Any]:
    """Search the tickets."""
    return {"found": [args.query]}


@tool(compensated_by="revoke_credit", amount_field="credit", summary="{credit} to {account}")
async def grant_credit(args: Credit, ctx: ToolContext) -> dict[str, Any]:
    """Credit an account."""
    return {"account": args.account, "credited": str(args.credit)}


@compensation(undoes="grant_credit")
async def revoke_credit(ctx: UndoContext) -> bool:
    """Take the credit back."""
    return True


def _call(name: str, confidence: float = 0.9, **arguments: Any) -> ToolCallReply:
    return ToolCallReply(name, {**arguments, "rationale": "asked", "confidence": confidence})


async def test_a_later_declaration_replaces_an_earlier_one(state_url: str) -> None:
    first = DeclaredTool("close_ticket", False, "reopen_ticket", False, parameters={"a": 1})
    other = DeclaredTool("lookup", True, None, False)
    tools, second, third = (DeclaredTools(state_url) for _ in range(3))
    try:
        await tools.declare([first, other])
        await tools.declare([DeclaredTool("close_ticket", False, None, True, "fee")])
        # Two workers starting at once: both land, neither fails.
        await asyncio.gather(second.declare([other]), third.declare([other]))
        found = await asyncio.to_thread(tools.all)
    finally:
        for each in (tools, second, third):
            await each.database.aclose()
    assert found == DeclaredTools(state_url).all()  # another process reads the same
    assert sorted(found) == ["close_ticket", "lookup"]
    close = found["close_ticket"]
    assert (close.read_only, close.compensation, close.irreversible) == (False, None, True)
    assert (close.amount_field, close.parameters) == ("fee", {})
    assert found["lookup"].read_only is True


async def _stats_process(
    state_url: str, profiles: Path, data_dir: Path, *args: str
) -> tuple[str, list[str]]:
    """The stats code (``handrail.cli.stats``) in a fresh process: its output, and the modules
    of the store example it imported (none should be)."""
    script = (
        "import argparse, asyncio, json, sys\n"
        "from handrail.cli.stats import register\n"
        "from handrail.settings import HandrailSettings\n"
        "parser = argparse.ArgumentParser()\n"
        "register(parser.add_subparsers())\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "code = asyncio.run(args.handler(HandrailSettings(_env_file=None), args))\n"
        "store = sorted(m for m in sys.modules if m.startswith('examples'))\n"
        "print(json.dumps(store), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(
        HANDRAIL_STATE_URL=state_url,
        HANDRAIL_PROFILES_DIRS=str(profiles),
        HANDRAIL_DATA_DIR=str(data_dir),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode(), json.loads(stderr.decode().strip().splitlines()[-1])


async def test_stats_and_the_gateway_read_what_the_worker_declared(
    client: Client, tmp_path: Path, state_url: str
) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "desk.toml").write_text(PROFILE)
    settings = settings_for_test(
        client,
        tmp_path / "data",
        state_url=SecretStr(state_url),
        reviewer_tokens={"alice": token_hash(ALICE)},
    )
    scenario = Scenario(
        [
            _call("search_tickets", query="vpn"),
            _call("grant_credit", confidence=0.5, account=7, credit="5.00"),  # a person decides
            _call("final_answer", answer="credited"),
        ]
    )
    async with agent_worker(
        client,
        tmp_path / "data",
        tools=[search_tickets, grant_credit],
        compensations=[revoke_credit],
        model=FunctionModel(scenario),
        profiles=[profiles],
        settings=settings,
    ) as handrail:
        handle = await handrail.start_task({"goal": "credit account 7", "profile": "desk"})
        # The gateway of `starter.py serve`: given no tool specs.
        app = create_app(handrail, task_queue=settings.task_queue)
        async with (
            running_server(app) as url,
            httpx2.AsyncClient(base_url=url, timeout=30, cookies={COOKIE_NAME: ALICE}) as http,
        ):
            alice = {"Authorization": f"Bearer {ALICE}"}
            row = await _pending(http, alice, handle.id)
            declared = DeclaredTools(state_url).all()  # written before the worker polled
            page = await http.get(f"/inbox/tasks/{handle.id}")  # signed in by the cookie
            approved = await http.post(
                f"/reviews/{handle.id}",
                json={"step": row["step"], "verdict": "approve"},
                headers=alice,
            )
        assert approved.status_code == 200, approved.text
        result = await handrail.get_result(handle.id)
    assert result.status == "answered"

    assert sorted(declared) == ["grant_credit", "search_tickets"]  # no MCP, no store tool
    search, grant = declared["search_tickets"], declared["grant_credit"]
    assert (search.read_only, search.compensation, search.irreversible) == (True, None, False)
    assert (grant.read_only, grant.compensation, grant.irreversible) == (
        False,
        "revoke_credit",
        False,
    )
    assert grant.parameters == Credit.model_json_schema()
    # The amount comes from the declared money argument, the edit form from the schema.
    assert (row["tool"], row["amount"]) == ("grant_credit", "5.00")
    assert page.status_code == 200
    assert 'name="arg.credit"' in page.text
    assert 'name="arg.account"' in page.text

    data_dir = tmp_path / "stats-host"  # another host: nothing of the worker's but the state
    out, store = await _stats_process(
        state_url, profiles, data_dir, "stats", "--json", "--profile", "desk"
    )
    levels = {a["tool"]: a["level"] for a in json.loads(out)["autonomy"]}
    assert levels == {"search_tickets": "autonomous", "grant_credit": "supervised"}
    assert store == []
    out, store = await _stats_process(
        state_url, profiles, data_dir, "demote", "search_tickets", "--profile", "desk",
        "--as", "carol", "--why", "reads too much",
    )  # fmt: skip
    assert "search_tickets in profile desk: autonomous → supervised" in out
    assert store == []


async def _pending(
    http: httpx2.AsyncClient, headers: dict[str, str], task_id: str
) -> dict[str, Any]:
    """The task's row in GET /reviews once it waits for a person."""
    for _ in range(300):
        response = await http.get("/reviews", headers=headers)
        assert response.status_code == 200, response.text
        for row in response.json():
            if row["task_id"] == task_id:
                return dict(row)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_id} never waited for review")


RULES = """
name = "ops"
system_prompt = "You keep the lights on."
tools = ["page_oncall"]

[[mcp_servers]]
name = "docs"
url = "http://127.0.0.1:9/mcp"

[rules.search_docs]
effect = "read_only"

[rules.lookup]
effect = "irreversible"
"""


async def test_declared_facts_outrank_the_profiles_which_outrank_the_runs(tmp_path: Path) -> None:
    (tmp_path / "ops.toml").write_text(RULES)
    state = tmp_path / "state" / "handrail.db"
    tools = DeclaredTools(state)
    try:  # another agent's worker declares a tool of the same name as an MCP tool here
        await tools.declare([DeclaredTool("lookup", True, None, False)])
    finally:
        await tools.database.aclose()
    facts = known_facts(RunLedger(state), [tmp_path])
    assert facts.read_only("search_docs") is True  # no worker declares it: the rule's effect
    assert (facts.read_only("lookup"), facts["lookup"].irreversible) == (True, False)
    assert facts.read_only("page_oncall") is None  # nobody knows: no guess
