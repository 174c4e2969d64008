"""414 for a request target longer than `MAX_TARGET_CHARS`, before any route reads it.

Without a limit of its own a service answered a 40,000-character URL as any other (a 404, or
a search over it), while a longer one overflowed the HTTP parser (400, "Invalid HTTP request
received") and the edge reset the connection at its own request-size limit. RFC 9110 asks a
server to take at least 8,000 octets of target and to answer 414 to longer ones; this limit
is the edge's too (`edge/khabar.vcl`), so a reader gets the same answer from either.
"""

import json
from typing import Any

from khabar_shared.problems import PROBLEM_JSON

# Path and query, in bytes as sent (percent-encoded): RFC 9110 section 4.1's 8,000 and then some.
MAX_TARGET_CHARS = 8192

Scope = dict[str, Any]
Receive = Any
Send = Any


def target_length(scope: Scope) -> int:
    """Length of the request target as sent: raw path, and `?query` when there is one."""
    path = scope.get("raw_path") or scope.get("path", "").encode()
    query = scope.get("query_string", b"")
    return len(path) + (len(query) + 1 if query else 0)


class UriLengthLimit:
    """ASGI middleware: a target over `max_chars` gets a 414 problem document, and no route."""

    def __init__(self, app: Any, max_chars: int = MAX_TARGET_CHARS) -> None:
        self.app = app
        self.max_chars = max_chars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or target_length(scope) <= self.max_chars:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "URI Too Long",
                "status": 414,
                "detail": f"The request target is {target_length(scope)} characters long; "
                f"the limit is {self.max_chars}.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 414,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
