"""The HTTP gateway: Handrail's client API over HTTP, and the reviewers' inbox page.

A stateless client of Temporal (``handrail.client.HandrailClient``): every request reads or
writes the workflows themselves, so any number of gateways can run side by side and none keeps
anything a restart would lose. ``starter.py serve`` runs it with uvicorn; ``create_app`` builds
the ASGI app for any other server.

```
POST /tasks                 start a task (Idempotency-Key: a retry starts nothing new)
GET  /tasks/{id}            status while it runs, the result when it ends
GET  /tasks/{id}/trace      the decision path
GET  /reviews               steps awaiting review (?tier=&tool=)
POST /reviews/{id}          approve | edit | reject | answer, as the token's reviewer
GET  /inbox                 the reviewers' page (login with the same token)
```
"""

from handrail.http.app import create_app
from handrail.http.auth import Principal, TokenBook, new_token, token_hash
from handrail.http.server import running_server, serve

__all__ = [
    "Principal",
    "TokenBook",
    "create_app",
    "new_token",
    "running_server",
    "serve",
    "token_hash",
]
