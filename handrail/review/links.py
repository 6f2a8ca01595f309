"""Signed, expiring review links: one click decides one pending step, as one reviewer.

A link is made in the ``notify_reviewers`` activity (never in workflow code: the key must not
enter history) for each reviewer a tier names and each verdict offered (approve, reject). Its
token is ``<payload>.<signature>``, both base64url without padding:

- payload: canonical JSON (``handrail.review.fingerprint.canonical_json``) of the task id,
  step, verdict, the proposal's fingerprint, the reviewer the link was made for, the expiry
  (Unix seconds) and a random link id (what single use is recorded by);
- signature: HMAC-SHA256 with the link key over ``handrail-link-v1.`` + the payload's base64
  text; the prefix keeps a link's signature from ever being valid as another Handrail
  signature (the webhook's uses its own key and prefix anyway).

:func:`verify_link` checks the signature against the current key and every previous one
(rotation: ``HANDRAIL_LINK_PREVIOUS_SECRETS``), then the expiry, and returns the claims.
Single use is not a property of the token: ``handrail.review.used_links`` records it, and the
workflow refuses a second decision of the same step anyway (``ReviewStale``) and a decision for
a proposal that changed (``ReviewFingerprintMismatch``).

Errors (all ``UserError``: the link, not the system, is at fault)::

    LinkError
    ├── LinksDisabledError      no link key configured
    ├── MalformedLinkError      not a token of this format (cut short, edited, not base64/JSON)
    ├── BadLinkSignatureError   signed with no key this gateway knows: tampered or foreign
    ├── LinkExpiredError        past its expiry
    └── LinkUsedError           consumed before (raised by ``handrail.review.apply``)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import SecretStr

from handrail.errors import ConfigurationError, UserError
from handrail.review.fingerprint import canonical_json
from handrail.settings import HandrailSettings

LinkVerdict = Literal["approve", "reject"]
"""What a link can decide: the verdicts that need no further input (an edit or an answer
needs a form, which the inbox has)."""

LINK_VERDICTS: Final[tuple[LinkVerdict, ...]] = ("approve", "reject")
MIN_SECRET_LENGTH: Final = 32
_MAC_PREFIX: Final = b"handrail-link-v1."
_VERSION: Final = 1


class LinkError(UserError):
    """A review link that cannot be used; the message says why in words."""


class LinksDisabledError(LinkError):
    """No link key is configured (``HANDRAIL_LINK_SECRET``)."""


class MalformedLinkError(LinkError):
    """Not a review link of this format."""


class BadLinkSignatureError(LinkError):
    """The signature does not verify with any known key."""


class LinkExpiredError(LinkError):
    """The link's lifetime is over."""


class LinkUsedError(LinkError):
    """The link was used before: each link decides once."""


@dataclass(frozen=True)
class LinkClaims:
    """What a verified link says: who may decide what, for which proposal, until when."""

    task_id: str
    step: int
    verdict: LinkVerdict
    fingerprint: str
    reviewer: str
    expires_at: datetime
    link_id: str


@dataclass(frozen=True)
class LinkKeys:
    """The key that signs new links and the keys that still verify (current first).

    Never printed: ``repr`` shows how many keys there are, not what they are."""

    current: SecretStr
    previous: tuple[SecretStr, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.current, *self.previous):
            if len(key.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ConfigurationError(
                    f"a review link key must have {MIN_SECRET_LENGTH} characters or more "
                    "(HANDRAIL_LINK_SECRET, HANDRAIL_LINK_PREVIOUS_SECRETS), e.g. from "
                    "`openssl rand -hex 32`"
                )

    def __repr__(self) -> str:
        return f"LinkKeys(current=***, previous={len(self.previous)} key(s))"

    @classmethod
    def of(cls, keys: LinkKeys | SecretStr | str | Sequence[SecretStr | str]) -> LinkKeys:
        """Keys from a ``LinkKeys``, one key, or a list (the first signs)."""
        if isinstance(keys, LinkKeys):
            return keys
        if isinstance(keys, SecretStr | str):
            keys = [keys]
        secrets_ = [key if isinstance(key, SecretStr) else SecretStr(key) for key in keys]
        if not secrets_:
            raise LinksDisabledError("review links are disabled: no link key is configured")
        return cls(secrets_[0], tuple(secrets_[1:]))

    @classmethod
    def from_settings(cls, settings: HandrailSettings) -> LinkKeys | None:
        """The configured keys, or None when links are disabled (no ``HANDRAIL_LINK_SECRET``)."""
        if settings.link_secret is None:
            return None
        return cls(settings.link_secret, tuple(settings.link_previous_secrets))

    def all(self) -> tuple[SecretStr, ...]:
        return (self.current, *self.previous)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: SecretStr, payload_b64: str) -> bytes:
    return hmac.new(
        key.get_secret_value().encode("utf-8"),
        _MAC_PREFIX + payload_b64.encode("ascii"),
        hashlib.sha256,
    ).digest()


def sign_link(
    secret: LinkKeys | SecretStr | str,
    *,
    task_id: str,
    step: int,
    verdict: LinkVerdict,
    fingerprint: str,
    reviewer: str,
    expires_at: datetime,
    link_id: str | None = None,
) -> str:
    """A token deciding ``verdict`` on ``step`` of ``task_id`` as ``reviewer``, valid until
    ``expires_at`` and only while the pending proposal has ``fingerprint``."""
    if verdict not in LINK_VERDICTS:
        raise ValueError(f"a link decides one of {LINK_VERDICTS}, not {verdict!r}")
    payload = {
        "v": _VERSION,
        "task": task_id,
        "step": step,
        "verdict": verdict,
        "fp": fingerprint,
        "rev": reviewer,
        "exp": int(expires_at.timestamp()),
        "id": link_id or secrets.token_urlsafe(16),
    }
    payload_b64 = _b64(canonical_json(payload).encode("utf-8"))
    return f"{payload_b64}.{_b64(_mac(LinkKeys.of(secret).current, payload_b64))}"


def verify_link(
    secret: LinkKeys | SecretStr | str | Sequence[SecretStr | str],
    token: str,
    now: datetime | None = None,
) -> LinkClaims:
    """The claims of a genuine, unexpired link; ``MalformedLinkError``, ``BadLinkSignatureError`` or
    ``LinkExpiredError`` otherwise. Does not consume it (``handrail.review.apply`` does)."""
    keys = LinkKeys.of(secret)
    payload_b64, dot, signature_b64 = token.partition(".")
    if not dot or not payload_b64 or not signature_b64:
        raise MalformedLinkError("not a review link: expected <payload>.<signature>")
    try:
        signature = _unb64(signature_b64)
    except (binascii.Error, ValueError):
        raise MalformedLinkError("not a review link: the signature is not base64url") from None
    try:
        expected = [_mac(key, payload_b64) for key in keys.all()]
    except UnicodeEncodeError:
        raise MalformedLinkError("not a review link: the payload is not base64url") from None
    # Every key is compared, each in constant time: timing tells nothing about which is near.
    genuine = False
    for mac in expected:
        genuine |= hmac.compare_digest(signature, mac)
    if not genuine:
        raise BadLinkSignatureError(
            "this review link's signature is not valid: it was changed, or signed with a key "
            "this gateway does not know"
        )
    try:
        claims = _claims(json.loads(_unb64(payload_b64)))
    except (binascii.Error, ValueError, KeyError, TypeError):
        # Signed by us but unreadable: only a future format would do this.
        raise MalformedLinkError("this review link has a format this gateway cannot read") from None
    moment = now or datetime.now(UTC)
    if moment >= claims.expires_at:
        raise LinkExpiredError(
            f"this review link expired at {claims.expires_at:%Y-%m-%d %H:%M} UTC; "
            "review the task in the inbox or ask for a new notice"
        )
    return claims


def _claims(payload: dict[str, object]) -> LinkClaims:
    if payload["v"] != _VERSION:
        raise ValueError("unknown link version")
    verdict = payload["verdict"]
    step, expires = payload["step"], payload["exp"]
    if verdict not in LINK_VERDICTS or not isinstance(step, int) or not isinstance(expires, int):
        raise ValueError("bad link claims")
    return LinkClaims(
        task_id=str(payload["task"]),
        step=step,
        verdict="approve" if verdict == "approve" else "reject",
        fingerprint=str(payload["fp"]),
        reviewer=str(payload["rev"]),
        expires_at=datetime.fromtimestamp(expires, UTC),
        link_id=str(payload["id"]),
    )


def link_url(public_url: str, token: str) -> str:
    """Where a link's token is opened: the gateway's ``GET /links/{token}`` page."""
    return f"{public_url.rstrip('/')}/links/{token}"
