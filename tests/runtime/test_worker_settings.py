"""Worker concurrency, cache size and graceful shutdown come from settings (environment), so
many worker hosts can be tuned without code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client

from handrail.runtime.app import BARE_APP
from handrail.runtime.worker import app_plugin, build_worker, make_openai_client
from handrail.settings import HandrailSettings


async def test_worker_options_come_from_the_environment(
    client: Client, settings: HandrailSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDRAIL_MAX_CONCURRENT_ACTIVITIES", "7")
    monkeypatch.setenv("HANDRAIL_MAX_CONCURRENT_WORKFLOW_TASKS", "3")
    monkeypatch.setenv("HANDRAIL_MAX_CACHED_WORKFLOWS", "50")
    monkeypatch.setenv("HANDRAIL_GRACEFUL_SHUTDOWN_SECONDS", "25")
    # The runtime's worker with no app (built-in tools only): the store's profiles left out.
    mine = settings.model_dump(exclude_unset=True, exclude={"profiles_dirs", "default_profile"})
    tuned = HandrailSettings(_env_file=None, **mine)
    model = make_openai_client(tuned)
    try:
        config = build_worker(client, tuned, model).config()
    finally:
        await model.close()
    assert config.get("max_concurrent_activities") == 7
    assert config.get("max_concurrent_workflow_tasks") == 3
    assert config.get("max_cached_workflows") == 50
    assert config.get("graceful_shutdown_timeout") == timedelta(seconds=25)


def test_bad_worker_settings_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDRAIL_MAX_CONCURRENT_ACTIVITIES", "0")
    with pytest.raises(ValueError, match="max_concurrent_activities"):
        HandrailSettings(_env_file=None)


def test_model_logprobs_reach_the_model_adapter(
    monkeypatch: pytest.MonkeyPatch, settings: HandrailSettings
) -> None:
    monkeypatch.setenv("HANDRAIL_MODEL_LOGPROBS", "true")
    assert HandrailSettings(_env_file=None).model_logprobs is True
    asked = settings.model_copy(update={"model_logprobs": True, "profiles_dirs": []})
    plugin = app_plugin(BARE_APP, asked, make_openai_client(asked))
    activities = plugin.activities
    assert isinstance(activities, list)
    decide: Any = next(a for a in activities if getattr(a, "__name__", "") == "decide")
    assert decide.__self__._model.logprobs is True


def test_a_ui_link_keeps_a_task_id_in_its_path_segment() -> None:
    # A task id is the caller's text: the Temporal UI link (the API's `temporal_ui`, the inbox,
    # the CLI) must not let it add path segments, a query or a fragment.
    settings = HandrailSettings(
        _env_file=None, temporal_address="127.0.0.1:7233", ui_port=8233, ui_base_url=""
    )
    hostile = 'a/../b?x=1#"><script>'
    assert settings.ui_url(hostile, "run/1") == (
        "http://127.0.0.1:8233/namespaces/default/workflows/"
        "a%2F..%2Fb%3Fx%3D1%23%22%3E%3Cscript%3E/run%2F1/history"
    )
    assert settings.ui_url("") == "http://127.0.0.1:8233/namespaces/default/workflows"
