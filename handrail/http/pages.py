"""The HTML pages of the inbox and the review links: one Jinja environment, its filters, and
``page`` to render a template into a response.

Model and tool text reaches these pages as data and is escaped for the context it lands in:
autoescape for text and quoted attributes; ``segment`` for an id inside a URL path;
``http_url`` for an ``href`` built from data (only http, https or a same-site path); Jinja's
``tojson`` only inside a ``<script type="application/json">`` block, where its escaping of
``< > & '`` suffices (in a double-quoted attribute it does not: it leaves ``"`` as it is).
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

POLL_MILLISECONDS: Final = 1500

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


def _when(moment: datetime) -> str:
    """``in 59 min`` / ``3 min ago``, for deadlines and requests."""
    seconds = (moment - datetime.now(UTC)).total_seconds()
    span = abs(seconds)
    text = (
        f"{span:.0f} s"
        if span < 90
        else f"{span / 60:.0f} min"
        if span < 5400
        else f"{span / 3600:.1f} h"
    )
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def _http_url(url: str) -> str:
    """``url`` if it is an http(s) or same-site path, else ``#``: an ``href`` built from data
    never carries ``javascript:`` or ``data:`` (autoescape alone would let those run)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    return url if scheme in ("http", "https") or (not scheme and url.startswith("/")) else "#"


_templates.filters["when"] = _when
# Plain strings: autoescape escapes them for the text or quoted attribute they land in.
_templates.filters["tojson_pretty"] = lambda value: json.dumps(
    value, indent=2, ensure_ascii=False, default=str
)
_templates.filters["json_text"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
# A task id in a URL path: every character but the unreserved ones percent-encoded ("/", "?"
# and "#" included), so it stays one path segment.
_templates.filters["segment"] = lambda value: urllib.parse.quote(str(value), safe="")
_templates.filters["http_url"] = _http_url


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(poll_ms=POLL_MILLISECONDS, **context)
    return HTMLResponse(html, status_code=status)
