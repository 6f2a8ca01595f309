"""``starter.py serve`` (the HTTP gateway and inbox) and ``starter.py token`` (a bearer token
for a reviewer or a service)."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any, Final

from handrail.client.core import HandrailClient, connection_error
from handrail.errors import UserError
from handrail.runtime.devserver import is_loopback
from handrail.settings import HandrailSettings

# The gateway (FastAPI, the inbox's templates) is imported inside the commands that serve it:
# every other command of the CLI (start, trace, pending, review...) imports this module, and
# would otherwise pay a second of start-up for a web stack it never uses.
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8280
_NAME: Final = re.compile(r"[A-Za-z0-9_.@-]{1,64}")  # as the settings accept


async def cmd_serve(settings: HandrailSettings, args: argparse.Namespace) -> int:
    host: str = args.host
    if not (settings.reviewer_tokens or settings.api_tokens):
        # Every route but the login page needs a token, so a gateway without any can do
        # nothing for anyone: on a public address that is a mistake, said now, not later.
        if not is_loopback(host):
            raise UserError(
                f"refusing to listen on {host}: no HANDRAIL_REVIEWER_TOKENS or "
                "HANDRAIL_API_TOKENS are set, so nobody could use it; make one with "
                "`starter.py token NAME`"
            )
        print("No tokens configured yet: nobody can sign in. `starter.py token NAME` makes one.")
    from handrail.http import create_app, serve  # see _http

    try:
        handrail = await HandrailClient.connect(settings, args.telemetry)
    except RuntimeError as error:  # the SDK reports an unreachable server as RuntimeError
        raise connection_error(settings, error) from None
    # Edit forms and money fields come from the tools the workers declared in the state
    # database (HANDRAIL_STATE_URL): any agent's.
    app = create_app(handrail)

    def ready(url: str) -> None:
        print(f"Handrail gateway at {url} (API, OpenAPI schema at /openapi.json)")
        print(f"Review inbox: {url}/inbox   Ctrl-C stops.")
        if not is_loopback(host):
            print("Not on loopback: put it behind TLS (docs/deploy.md); tokens travel in headers.")

    try:
        await serve(app, host, args.port, on_ready=ready, access_log=args.access_log)
    except OSError as error:
        raise UserError(str(error)) from None
    return 0


async def cmd_token(settings: HandrailSettings, args: argparse.Namespace) -> int:
    name: str = args.name
    if not _NAME.fullmatch(name):
        raise UserError(f"{name!r} is not a name: use letters, digits and _.@- (at most 64)")
    from handrail.http import new_token, token_hash  # see _http

    token = new_token()
    variable = "HANDRAIL_API_TOKENS" if args.service else "HANDRAIL_REVIEWER_TOKENS"
    known: dict[str, Any] = dict(settings.api_tokens if args.service else settings.reviewer_tokens)
    known[name] = token_hash(token)
    print(f"Token for {name} (shown once: hand it to {name}; Handrail stores only its hash):")
    print(f"  {token}")
    print("Set this in the gateway's environment (the names already set are kept):")
    print(f"  {variable}='{json.dumps(known, sort_keys=True)}'")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve`` and ``token`` to the CLI's subcommands."""
    server = commands.add_parser(
        "serve",
        help="run the HTTP gateway and review inbox",
        description="Serve the HTTP API (start tasks, follow them, decide reviews) and the "
        "review inbox, until Ctrl-C or SIGTERM. A client of Temporal: run a worker too.",
    )
    server.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    server.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    server.add_argument(
        "--access-log", action="store_true", help="log each request (method, path, status)"
    )
    server.set_defaults(handler=cmd_serve)

    token = commands.add_parser(
        "token",
        help="make a bearer token for a reviewer (or --service)",
        description="Print a new random token once, and the settings line with its hash.",
    )
    token.add_argument("name", help="who the token is for: the name verdicts are recorded under")
    token.add_argument(
        "--service", action="store_true", help="a service's token (starts tasks) instead"
    )
    token.set_defaults(handler=cmd_token)
