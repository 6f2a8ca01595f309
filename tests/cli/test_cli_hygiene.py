"""The command line's manners: help without side effects, no silently ignored options, one-line
errors instead of tracebacks, no terminal control codes from untrusted text, and a model client
for a local server with no key."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.cli.trace_format import format_pending, format_trace
from handrail.client.core import HandrailClient
from handrail.contracts import Decision, PendingReview, StepRecord, ToolOutcome, Trace
from handrail.runtime.devserver import is_listening
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.cli.test_starter_cli import ROOT, Run, _clean_env, _free_port, _starter, _worker_env

_NASTY = "a\x00b\x1b[2Jc\x07d\ne"


async def _worker_py(*args: str, env: dict[str, str], cwd: Path, timeout: float = 20) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "worker.py"),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=timeout)
    finally:
        if process.returncode is None:  # SIGTERM: stops what it started (see the signal tests)
            process.terminate()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


async def test_worker_help_prints_usage_and_settings_and_starts_nothing(tmp_path: Path) -> None:
    port = _free_port()
    # No embedded server and nothing on the port: a worker that did start despite --help fails
    # at once (connection refused) rather than leaving anything running.
    env = _clean_env(
        HANDRAIL_TEMPORAL_ADDRESS=f"127.0.0.1:{port}", HANDRAIL_EMBEDDED_SERVER="false"
    )
    try:
        run = await _worker_py("--help", env=env, cwd=tmp_path)
    except TimeoutError:
        pytest.fail("worker.py --help did not exit: it started a worker")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: worker.py")
    for variable in ("HANDRAIL_TEMPORAL_ADDRESS", "HANDRAIL_TASK_QUEUE", "OPENAI_BASE_URL"):
        assert variable in run.stdout
    assert not is_listening("127.0.0.1", port)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["Some goal"],
        ["--task-id", "x"],
        ["--profile", "store_actions"],
        ["--context", "{}"],
        ["Some goal", "--task-id", "x"],
    ],
)
async def test_start_refuses_options_that_input_would_drop(
    extra: list[str], temporal_address: str, tmp_path: Path
) -> None:
    env = _clean_env(
        HANDRAIL_TEMPORAL_ADDRESS=temporal_address,
        HANDRAIL_EMBEDDED_SERVER="false",
        HANDRAIL_TASK_QUEUE=f"test-{uuid.uuid4().hex[:10]}",
    )
    run = await _starter("start", "--input", '{"goal": "Hi"}', *extra, env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stdout
    named = [e for e in extra if e.startswith("--")] or ["goal"]
    for option in named:
        assert option in run.stderr
    assert "with --input" in run.stderr
    assert "started" not in run.stdout


async def test_review_refuses_args_and_text_its_verdict_ignores(
    temporal_address: str, tmp_path: Path
) -> None:
    env = _clean_env(HANDRAIL_TEMPORAL_ADDRESS=temporal_address, HANDRAIL_EMBEDDED_SERVER="false")
    args = await _starter(
        "review", "t", "approve", "--as", "bob", "--args", "{}", env=env, cwd=tmp_path
    )
    assert args.returncode == 2
    assert "--args cannot be used with approve" in args.stderr
    text = await _starter(
        "review", "t", "edit", "--as", "bob", "--text", "x", env=env, cwd=tmp_path
    )
    assert text.returncode == 2
    assert "--text cannot be used with edit" in text.stderr


async def test_trace_and_result_of_a_finished_task_need_no_worker(
    client: Client, settings: HandrailSettings, temporal_address: str, tmp_path: Path
) -> None:
    create_store(store_db_path(settings))
    handrail = HandrailClient(client, settings)
    async with running_worker(client, settings):
        handle = await handrail.start_task({"goal": "How much is the Headlamp?"})
        await handrail.get_result(handle.id)
    # The worker has stopped (the server still lists it as a poller for a while).
    env = _worker_env(settings, temporal_address)
    trace = await _starter("trace", handle.id, env=env, cwd=tmp_path, timeout=30)
    assert trace.returncode == 0, trace.stderr
    assert f"task {handle.id} · profile store_support · answered" in trace.stdout
    assert "goal: How much is the Headlamp?" in trace.stdout
    assert "lookup_price" in trace.stdout
    assert "answer: The price of the Headlamp is 24.00 EUR." in trace.stdout
    result = await _starter("result", handle.id, env=env, cwd=tmp_path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "A: The price of the Headlamp is 24.00 EUR." in result.stdout
    # The Python API behaves the same.
    from_history = await handrail.get_trace(handle.id)
    assert from_history.status == "answered"
    assert len(from_history.steps) == 2


async def test_trace_and_result_of_a_task_no_worker_polls_say_so_in_one_line(
    client: Client, settings: HandrailSettings, temporal_address: str, tmp_path: Path
) -> None:
    handrail = HandrailClient(client, settings)
    handle = await handrail.start_task({"goal": "How much is the Headlamp?"})
    try:
        env = _worker_env(settings, temporal_address)
        for command in ("trace", "result"):
            run = await _starter(command, handle.id, env=env, cwd=tmp_path, timeout=30)
            assert run.returncode != 0, run.stdout
            assert "Traceback" not in run.stderr
            assert run.stderr.strip().count("\n") == 0, run.stderr
            assert f"task {handle.id} is running but no worker polls task queue" in run.stderr
            assert settings.task_queue in run.stderr
            assert "python worker.py" in run.stderr
        unknown = await _starter("trace", "no-such-task", env=env, cwd=tmp_path)
        assert unknown.returncode == 2
        assert "no task 'no-such-task'" in unknown.stderr
    finally:
        await handle.terminate("test over")


def _nasty_trace() -> Trace:
    decision = Decision(
        kind="tool_call",
        tool="lookup_price",
        arguments={"product": "\x1b]0;pwned\x07\x9b2J"},
        rationale=_NASTY,
    )
    step = StepRecord(
        step=1,
        started_at=datetime.now(UTC),
        decision=decision,
        outcome=ToolOutcome(ok=False, error=_NASTY, summary=_NASTY),
        note=_NASTY,
    )
    return Trace(
        task_id="t",
        goal=_NASTY,
        profile="store_support",
        status="failed",
        answer=_NASTY,
        error=_NASTY,
        steps=[step],
    )


def test_trace_text_escapes_control_characters() -> None:
    text = format_trace(_nasty_trace())
    for raw in ("\x00", "\x1b", "\x07", "\x9b"):
        assert raw not in text
    assert "goal: a\\x00b\\x1b[2Jc\\x07d\\ne" in text
    assert "error: a\\x00b\\x1b[2Jc\\x07d\\ne" in text
    # Lines break only where the formatter puts them: none inside an untrusted string.
    assert "e" not in text.splitlines()


async def test_result_and_pending_print_no_control_characters(
    client: Client,
    settings: HandrailSettings,
    temporal_address: str,
    tmp_path: Path,
    model_server: ScriptedModelServer,
) -> None:
    model_server.brain = Scenario([ToolCallReply("final_answer", {"answer": _NASTY})])
    create_store(store_db_path(settings))
    handrail = HandrailClient(client, settings)
    async with running_worker(client, settings):
        handle = await handrail.start_task({"goal": _NASTY})
        await handrail.get_result(handle.id)
        env = _worker_env(settings, temporal_address)
        for command in ("result", "trace"):
            run = await _starter(command, handle.id, env=env, cwd=tmp_path)
            assert run.returncode == 0, run.stderr
            for raw in ("\x00", "\x1b", "\x07"):
                assert raw not in run.stdout
            assert "a\\x00b\\x1b[2Jc\\x07d\\ne" in run.stdout
    table = format_pending([("t\x1b[2J", _pending(_NASTY))], datetime.now(UTC))
    assert "\x1b" not in table
    assert "\x00" not in table


def _pending(text: str) -> PendingReview:
    now = datetime.now(UTC)
    return PendingReview(
        step=1,
        tool="issue_refund",
        arguments={},
        reason=text,
        tier="support",
        reviewers=["alice"],
        requested_at=now,
        deadline_at=now,
        summary=text,
    )


async def test_base_url_without_a_key_reaches_the_local_model(
    client: Client,
    settings: HandrailSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The README's Ollama example: OPENAI_BASE_URL and no key anywhere.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    keyless = settings.model_copy(update={"openai_api_key": None})
    assert keyless.openai_base_url
    create_store(store_db_path(keyless))
    handrail = HandrailClient(client, keyless)
    async with running_worker(client, keyless):
        handle = await handrail.start_task({"goal": "How much is the Headlamp?"})
        result = await handrail.get_result(handle.id)
    assert result.status == "answered"
    assert result.steps[0].decision.tokens_in > 0  # a decide call answered by the model server


async def test_tls_failure_says_tls_is_on_and_false_turns_it_off(
    temporal_address: str, tmp_path: Path
) -> None:
    # A plaintext dev server, and an API key, which turns TLS on unless told otherwise.
    env = _clean_env(
        HANDRAIL_TEMPORAL_ADDRESS=temporal_address,
        HANDRAIL_EMBEDDED_SERVER="false",
        HANDRAIL_TEMPORAL_API_KEY="not-a-real-key",
        HANDRAIL_TASK_QUEUE=f"test-{uuid.uuid4().hex[:10]}",
    )
    run = await _starter("trace", "no-such-task", env=env, cwd=tmp_path)
    assert run.returncode == 2
    assert "TLS is on because HANDRAIL_TEMPORAL_API_KEY is set" in run.stderr
    assert "HANDRAIL_TEMPORAL_TLS=false" in run.stderr
    worker = await _worker_py(env=env, cwd=tmp_path)
    assert worker.returncode == 2, worker.stderr
    assert "Traceback" not in worker.stderr
    [line] = [x for x in worker.stderr.splitlines() if x.startswith("error:")]
    assert "TLS is on because HANDRAIL_TEMPORAL_API_KEY is set" in line
    env["HANDRAIL_TEMPORAL_TLS"] = "false"
    plain = await _starter("trace", "no-such-task", env=env, cwd=tmp_path)
    assert plain.returncode == 2
    assert "no task 'no-such-task'" in plain.stderr  # the server answered


def test_tls_setting_is_automatic_unless_set() -> None:
    base = HandrailSettings(_env_file=None)
    assert base.temporal_tls is None
    assert base.temporal_tls_reason is None
    keyed = HandrailSettings(_env_file=None, temporal_api_key="k")
    assert keyed.temporal_tls_reason == "HANDRAIL_TEMPORAL_API_KEY is set"
    off = HandrailSettings(_env_file=None, temporal_api_key="k", temporal_tls=False)
    assert off.temporal_tls_reason is None
