"""414 for a request target longer than `MAX_TARGET_CHARS`, before any route reads it.

Without a limit of its own a service answered a 40,000-character URL as any other (a 404, or
a search over it), while a longer one overflowed the HTTP parser (400, "Invalid HTTP request
received") and the edge reset the connection at its own request-size limit. RFC 9110 asks a
server to take at least 8,000 octets of target and to answer 414 to longer ones; this limit
is the edge's too (`edge/khabar.vcl`), so a reader gets the same answer from either.

A target longer than httptools can parse (`PARSER_TARGET_MAX`) never reaches the app: uvicorn
answered it 400. `UriLimitedHttpTools`, the protocol `serve` gives uvicorn, answers it 414 as
well. (uvicorn's other parser, h11, has a setting for this, `h11_max_incomplete_event_size`;
httptools has none: its URL parser keeps offsets in 16 bits.)
"""

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from khabar_shared.problems import PROBLEM_JSON

# Path and query, in bytes as sent (percent-encoded): RFC 9110 section 4.1's 8,000 and then some.
MAX_TARGET_CHARS = 8192
# The longest target httptools parses (http_parser_url holds offsets and lengths in 16 bits).
PARSER_TARGET_MAX = 65535
# How long the rest of a refused request is read and dropped before the connection closes.
LINGER_S = 5.0

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
        body = problem_414(
            f"The request target is {target_length(scope)} characters long; "
            f"the limit is {self.max_chars}."
        )
        await send({"type": "http.response.start", "status": 414, "headers": headers_414(body)})
        await send({"type": "http.response.body", "body": body})


def problem_414(detail: str) -> bytes:
    return json.dumps(
        {"type": "about:blank", "title": "URI Too Long", "status": 414, "detail": detail}
    ).encode()


def headers_414(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]


class _TargetTooLong(Exception):
    """Raised in the parser's callback: it stops reading the request."""


class UriLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 414 itself to a target too long to parse.

    Its URL arrives in pieces (`on_url`) as it is read; past `PARSER_TARGET_MAX` the 414
    goes out, and the parser's error for the raised callback, which uvicorn would answer
    400, is not answered again. Nothing more of the request is kept: what the client still
    sends is read and dropped until it closes, or for `LINGER_S` at most, as a lingering
    close does (closing with its bytes unread would reset the connection, and a client
    still sending could lose the 414 to the reset).
    """

    _refused = False

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > PARSER_TARGET_MAX:
            self._refuse()
            raise _TargetTooLong
        super().on_url(url)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        body = problem_414(
            f"The request target is over {PARSER_TARGET_MAX} characters long; "
            f"the limit is {MAX_TARGET_CHARS}."
        )
        head = [STATUS_LINE[414]]
        for name, value in [*self.server_state.default_headers, *headers_414(body)]:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()
