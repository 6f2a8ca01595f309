"""What several commands share: connecting with the command's telemetry, and refusing an
option the command would ignore."""

from __future__ import annotations

import argparse

from handrail.client.core import HandrailClient, connection_error
from handrail.errors import UserError
from handrail.settings import HandrailSettings


async def connect(settings: HandrailSettings, args: argparse.Namespace) -> HandrailClient:
    """A client for the command; an unreachable server is a clear error naming the address."""
    # With the command's telemetry, a task started here is one trace with its workflow and
    # activities (the client span is the root).
    try:
        return await HandrailClient.connect(settings, args.telemetry)
    except RuntimeError as error:  # the SDK reports an unreachable server as RuntimeError
        raise connection_error(settings, error) from None


def refuse_ignored(args: argparse.Namespace, reason: str, *options: str) -> None:
    """Refuse ``options`` given on the command line that ``reason`` says would be ignored: a
    silently dropped option (a --task-id lost beside --input) does what the user did not ask."""
    given = [option for option in options if getattr(args, option.lstrip("-").replace("-", "_"))]
    if given:
        raise UserError(f"{', '.join(given)} cannot be used {reason}")
