"""Signed webhook notices: the receiver can tell a notice from Handrail from anyone else's POST.

Each POST carries two headers (the scheme of Stripe's and GitHub's webhooks)::

    X-Handrail-Timestamp: 1767225600
    X-Handrail-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + raw body)>

The key is ``HANDRAIL_REVIEW_WEBHOOK_SECRET``, shared with the receiver only (not the link key:
a receiver that can check notices must not be able to forge review links). The timestamp is
signed with the body, so a captured notice cannot be replayed later than the receiver's
tolerance (5 minutes by default). The recipe, in any language: take the raw body bytes as
received (before any JSON parsing), compute the HMAC over ``timestamp + "." + body``, compare
in constant time, and refuse a timestamp too far from now. :func:`verify_notice` is that recipe
for Python receivers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from pydantic import SecretStr

TIMESTAMP_HEADER: Final = "X-Handrail-Timestamp"
SIGNATURE_HEADER: Final = "X-Handrail-Signature"
DEFAULT_TOLERANCE: Final = timedelta(minutes=5)


class NoticeSignatureError(Exception):
    """A notice whose signature headers are missing, wrong or too old (receiver side)."""


def _key(secret: SecretStr | str) -> bytes:
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return value.encode("utf-8")


def notice_signature(secret: SecretStr | str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: the value of ``X-Handrail-Signature`` for ``body`` sent at
    ``timestamp`` (Unix seconds)."""
    mac = hmac.new(_key(secret), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signature_headers(
    secret: SecretStr | str, body: bytes, now: datetime | None = None
) -> dict[str, str]:
    """The two headers a signed notice carries."""
    timestamp = int((now or datetime.now(UTC)).timestamp())
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: notice_signature(secret, timestamp, body),
    }


def verify_notice(
    secret: SecretStr | str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> None:
    """Raise ``NoticeSignatureError`` unless ``body`` is a notice signed with ``secret`` within
    ``tolerance`` of ``now``. ``headers`` is looked up case-insensitively."""
    folded = {name.lower(): value for name, value in headers.items()}
    stamp = folded.get(TIMESTAMP_HEADER.lower())
    given = folded.get(SIGNATURE_HEADER.lower())
    if stamp is None or given is None:
        raise NoticeSignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise NoticeSignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds") from None
    expected = notice_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        raise NoticeSignatureError("the signature does not match the body")
    age = abs((now or datetime.now(UTC)).timestamp() - timestamp)
    if age > tolerance.total_seconds():
        raise NoticeSignatureError(f"the notice was signed {age:.0f} s from now: too old")
