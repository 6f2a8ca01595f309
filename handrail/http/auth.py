"""Who is calling: bearer tokens, one per reviewer and per service, stored only as hashes.

Trust model. The gateway holds the SHA-256 of each token (``HANDRAIL_REVIEWER_TOKENS``,
``HANDRAIL_API_TOKENS``), never a token: reading its settings gives no credential. A reviewer's
token proves the name its hash is filed under, and that name, not anything in the request body,
is the ``reviewer`` the ``review`` update receives; the workflow then decides whether that
reviewer may decide the pending tier. Whoever can send the update to Temporal directly (the CLI,
an SDK, the Temporal UI) still asserts any name: Temporal's own authorization must keep those
paths to operators. Services' tokens start and read tasks and never decide reviews.

Who sees what. A service reads the tasks it started (the gateway records the starter in the
task's memo, ``handrail.client.STARTER_MEMO``, from the token, never from the request body),
and every task only when ``HANDRAIL_API_READ_ALL`` names it; a task it may not read is a 404,
the same as one that does not exist. Reviewers read every task (they need the context of what
they decide), but their lists (``GET /reviews``, the inbox) show only the pending reviews
whose tier they may decide.

Tokens are 256 random bits, so an unsalted SHA-256 is as hard to reverse as a slow password
hash would be, and cheap enough for every request. Every stored hash is compared, in constant
time, so neither timing nor order tells which name (if any) nearly matched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from handrail.errors import ConfigurationError
from handrail.http.errors import ApiError

TOKEN_PREFIX: Final = "hrt_"
"""Marks a Handrail gateway token, so that a secret scanner (or a person) recognises one."""
COOKIE_NAME: Final = "handrail_token"
"""The inbox's login cookie: the reviewer's token itself (the gateway keeps no sessions)."""

PrincipalKind = Literal["reviewer", "service"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a reviewer or a service, by the name its token is filed under."""

    name: str
    kind: PrincipalKind
    read_all: bool = False
    """A service granted every task (``HANDRAIL_API_READ_ALL``); reviewers never need it."""


def new_token() -> str:
    """A fresh random token (shown once to its owner; only its hash is stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 hex digest the settings store for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenBook:
    """The names and token hashes of reviewers and services."""

    def __init__(
        self,
        reviewers: Mapping[str, str],
        services: Mapping[str, str],
        *,
        read_all: Collection[str] = (),
    ) -> None:
        """``read_all``: the services that read every task, not only those they started
        (``ConfigurationError`` for a name that is no service: a typo would grant nothing)."""
        unknown = sorted(set(read_all) - set(services))
        if unknown:
            raise ConfigurationError(
                f"HANDRAIL_API_READ_ALL names {', '.join(map(repr, unknown))}, not a service "
                "of HANDRAIL_API_TOKENS (it takes the services' names)"
            )
        self._entries: list[tuple[str, PrincipalKind, bytes]] = [
            *((name, "reviewer", bytes.fromhex(digest)) for name, digest in reviewers.items()),
            *((name, "service", bytes.fromhex(digest)) for name, digest in services.items()),
        ]
        self._read_all = frozenset(read_all)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def identify(self, token: str) -> Principal | None:
        """Whose token this is, or ``None``."""
        digest = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for name, kind, expected in self._entries:  # all of them: no early exit
            if hmac.compare_digest(digest, expected) and found is None:
                granted = kind == "service" and name in self._read_all
                found = Principal(name, kind, read_all=granted)
        return found


BEARER: Final = HTTPBearer(
    auto_error=False,  # our own 401s: the error body every route answers, and RFC 6750's hint
    description="A reviewer's or a service's token (`starter.py token NAME` makes one).",
)
"""``Authorization: Bearer <token>`` read by FastAPI (and declared in the OpenAPI schema)."""
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def authenticate(book: TokenBook, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The caller behind a bearer token; 401 when there is none or it is unknown (RFC 6750)."""
    if credentials is None:
        raise ApiError(
            401,
            "Unauthenticated",
            "send a bearer token: `Authorization: Bearer <token>` (`starter.py token NAME` "
            "makes one)",
            {"WWW-Authenticate": 'Bearer realm="handrail"'},
        )
    principal = book.identify(credentials.credentials)
    if principal is None:
        raise ApiError(
            401,
            "Unauthenticated",
            "the bearer token is not one this gateway knows",
            {"WWW-Authenticate": 'Bearer realm="handrail", error="invalid_token"'},
        )
    return principal


def require(principal: Principal, kind: PrincipalKind, doing: str) -> Principal:
    """``principal`` if it is a ``kind``; else 403 saying who may."""
    if principal.kind != kind:
        raise ApiError(
            403,
            "Forbidden",
            f"{principal.name} is a {principal.kind}: only a {kind} token may {doing}",
        )
    return principal
