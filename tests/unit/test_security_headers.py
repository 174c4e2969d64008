"""The security headers middleware: nosniff on every answer, exactly once."""

import asyncio
from typing import Any

from khabar_shared.security_headers import SecurityHeadersMiddleware


def headers_of(route_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": route_headers})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(SecurityHeadersMiddleware(route)({"type": "http"}, None, send))
    return list(sent[0]["headers"])


def test_nosniff_is_added_once() -> None:
    plain = headers_of([(b"content-type", b"image/jpeg")])
    assert plain.count((b"x-content-type-options", b"nosniff")) == 1
    # A route that sets it itself (render's media) keeps its one header.
    own = headers_of([(b"content-type", b"image/jpeg"), (b"x-content-type-options", b"nosniff")])
    assert [h for h in own if h[0] == b"x-content-type-options"] == [
        (b"x-content-type-options", b"nosniff")
    ]


def test_html_gets_the_policy() -> None:
    names = {name for name, _ in headers_of([(b"content-type", b"text/html; charset=utf-8")])}
    assert {b"content-security-policy", b"referrer-policy"} <= names
