"""Schemathesis over the gateway's OpenAPI schema, against the real server: whatever it sends,
with and without a valid token, no answer is a 5xx and every error is the JSON error body.

Its HTTP client is synchronous, so the calls run in a thread while the session's event loop
serves the gateway (and talks to Temporal). Bounded: a few examples per operation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from temporalio.client import Client

from handrail.settings import HandrailSettings
from tests.test_http_api import SERVICE_TOKEN, TOKENS, Api, bearer, serve_gateway

MAX_EXAMPLES = 15

pytestmark = pytest.mark.usefixtures("worker")  # started tasks run (and end)


def fuzz(api_url: str, schema: dict[str, Any]) -> int:
    """Every operation, as a service and as a reviewer; returns how many calls were made."""
    loaded = schemathesis.openapi.from_dict(schema)
    session = requests.Session()
    calls = 0

    def checker(operation: Any, token: str) -> Any:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal calls
            response = case.call(base_url=api_url, headers=bearer(token), session=session)
            calls += 1
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"}, body
                assert set(body["error"]) == {"type", "message"}, body

        return check

    for result in loaded.get_all_operations():
        # The gateway's own schema must load whole: a part that does not is a failure here.
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        for token in (SERVICE_TOKEN, TOKENS["alice"]):
            checker(operation, token)()
    return calls


@pytest_asyncio.fixture
async def api(client: Client, settings: HandrailSettings) -> AsyncIterator[Api]:
    async with serve_gateway(client, settings) as served:
        yield served


async def test_no_input_makes_a_server_error(api: Api) -> None:
    schema = (await api.http.get("/openapi.json")).json()
    calls = await asyncio.to_thread(fuzz, api.url, schema)
    assert calls >= MAX_EXAMPLES  # it did run
