"""Connecting to Temporal: the client with Handrail's data converter, TLS and API key from the
settings, the error to show when that fails, and the search attributes a namespace needs."""

from __future__ import annotations

import logging
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from handrail import search_attributes
from handrail.errors import ConfigurationError, UserError
from handrail.settings import HandrailSettings
from handrail.telemetry.core import Telemetry, runtime_for

log = logging.getLogger(__name__)


def _tls(settings: HandrailSettings) -> bool | TLSConfig:
    def read(path: Any) -> bytes | None:
        return path.read_bytes() if path else None

    if settings.temporal_tls_reason is None:
        if settings.temporal_tls_cert or settings.temporal_tls_ca:
            # Refused rather than ignored: certificate files mean the user expects TLS.
            raise ConfigurationError(
                "HANDRAIL_TEMPORAL_TLS=false, yet HANDRAIL_TEMPORAL_TLS_CERT or _TLS_CA is set: "
                "unset the files to connect in plaintext, or turn TLS on"
            )
        return False
    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        return TLSConfig(
            client_cert=read(settings.temporal_tls_cert),
            client_private_key=read(settings.temporal_tls_key),
            server_root_ca_cert=read(settings.temporal_tls_ca),
        )
    return True


def connection_error(settings: HandrailSettings, error: Exception) -> UserError:
    """The error to show when connecting to Temporal failed with ``error`` (the SDK reports an
    unreachable server as ``RuntimeError``): it names the address and, with TLS on, why TLS is on
    and how to turn it off, since a TLS client against a plaintext server fails the same way."""
    address = settings.temporal_address
    reason = settings.temporal_tls_reason
    if reason is not None:
        return ConfigurationError(
            f"cannot connect to Temporal at {address} over TLS (TLS is on because {reason}): "
            f"{error}; if that server speaks plaintext (a local dev server does), set "
            "HANDRAIL_TEMPORAL_TLS=false"
        )
    return UserError(
        f"cannot reach Temporal at {address} ({error}); start one with "
        "`python starter.py server` and a worker with `python worker.py`"
    )


async def connect_temporal(
    settings: HandrailSettings, telemetry: Telemetry | None = None
) -> Client:
    """A Temporal client with Handrail's data converter, from settings (TLS and API key too).

    The client (and any worker built on it) always traces workflows and activities: with
    ``telemetry``'s tracer, else with the process's global one (a no-op unless the application
    set one up, yet it still passes the caller's current span on to the workflow). With
    ``telemetry``, the SDK's runtime metrics are also served on Prometheus if configured.
    """
    # Always installed: the contrib interceptor makes workflow spans only under a client span,
    # so a task started without it would leave every activity a trace of its own.
    tracing = telemetry or Telemetry.ambient()
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key.get_secret_value() if api_key else None,
        tls=_tls(settings),
        data_converter=pydantic_data_converter,
        interceptors=tracing.client_interceptors(),
        runtime=runtime_for(settings) if telemetry else None,
    )


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register Handrail's search attributes in the client's namespace if missing; returns the
    names it added. Best effort: where the API is not allowed (Temporal Cloud registers them
    through its own console or `tcld`), it logs what to do instead."""
    namespace = client.namespace
    wanted = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in search_attributes.ALL
    }
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {k: v for k, v in wanted.items() if k not in existing.custom_attributes}
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
    except RPCError as error:
        log.warning(
            "could not check or register search attributes %s in namespace %s (%s); register "
            "them before starting tasks that need review",
            sorted(wanted),
            namespace,
            error.message,
        )
        return []
    return sorted(missing)
