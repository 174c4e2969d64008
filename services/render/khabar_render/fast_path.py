"""Cached fragments answered in front of FastAPI: render as the edge's origin.

The edge asks render for `/fragments/{article,related,card}/{id}` on every
miss and after every purge. When the fragment is cached and its article is
not withdrawn (one round trip: `LiveFragments`, on a connection every request
shares rather than through redis-py's pool), the answer is the stored
fragment with the headers the routes give it (`fragment_headers`, then the
security headers), sent as it is, in front of FastAPI's whole middleware
stack and its per-request checks: its routing, parameter validation,
dependency solving and each middleware's wrapping of `send` cost render
more than the read itself.
An answer is kept in memory by the stored bytes it was made from (a few
thousand, the most recent): the same fragment read again is answered without
parsing it or building its headers again, which cost render more than the
read. A re-rendered fragment is other bytes, so a new answer.
The HTTP metrics are counted here as the middleware counts them. Anything
else (a miss, a withdrawal, a Redis outage, another method, path or query)
goes on to the app unchanged, which renders, or answers 404, 410 and 503.
"""

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from khabar_render.store import LiveFragments, StoredFragment
from khabar_shared.metrics import record_cache_lookup
from khabar_shared.ops_http import record_http
from khabar_shared.security_headers import SecurityHeadersMiddleware

# (kind in the path, query string) -> the fragment's kind in the cache.
FRAGMENT_KINDS = {
    ("article", b""): "article",
    ("related", b""): "related",
    ("card", b""): "card",
    ("card", b"heading=h3"): "card",
    ("card", b"heading=h2"): "card-h2",
}
# What the HTTP metrics name a request by: the route's template, as for the app's routes.
ROUTES = {kind: f"/fragments/{kind}/{{article_id}}" for kind, _ in FRAGMENT_KINDS}
HTML = b"text/html; charset=utf-8"

FragmentHeaders = Callable[[StoredFragment], dict[str, str]]
# Answers kept by the bytes they were made from: every fragment of a busy site's
# front pages, a few kilobytes each.
ANSWERS_KEPT = 4096
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Answer:
    """A stored fragment's answer: its ETag, the 200's head and body, the 304's head."""

    etag: str
    full: Headers
    body: bytes
    not_modified: Headers


def fragment_asked(scope: Scope) -> tuple[str, str, str] | None:
    """(path kind, fragment name, article id) of a GET for an article's fragment, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    parts = scope["path"].split("/")
    if len(parts) != 4 or parts[1] != "fragments" or not parts[3]:
        return None
    kind = FRAGMENT_KINDS.get((parts[2], scope.get("query_string", b"")))
    if kind is None:
        return None
    return parts[2], f"{kind}:{parts[3]}", parts[3]


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison: `*`, or any listed tag equal to ours with or without `W/`."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def if_none_match(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return str(value.decode("latin-1"))
    return ""


class CachedFragments:
    """ASGI app in front of render's: a cached fragment of a live article, answered at once."""

    def __init__(
        self,
        app: ASGIApp,
        fragments: LiveFragments,
        headers_of: FragmentHeaders,
        security: SecurityHeadersMiddleware,
    ) -> None:
        self.app = app
        self._fragments = fragments
        self._headers_of = headers_of
        self._security = security
        self._answers: OrderedDict[bytes, Answer] = OrderedDict()

    def _answer_of(self, raw: bytes) -> Answer:
        answer = self._answers.get(raw)
        if answer is not None:
            self._answers.move_to_end(raw)
            return answer
        fragment = StoredFragment.model_validate_json(raw)
        headers = [
            (key.lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in self._headers_of(fragment).items()
        ]
        body = fragment.html.encode()
        full = headers + [(b"content-length", str(len(body)).encode()), (b"content-type", HTML)]
        answer = Answer(
            fragment.etag,
            self._security.added_to(full),
            body,
            self._security.added_to(headers),
        )
        self._answers[raw] = answer
        if len(self._answers) > ANSWERS_KEPT:
            self._answers.popitem(last=False)
        return answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = fragment_asked(scope)
        if asked is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path_kind, name, article_id = asked
        try:
            raw = await self._fragments.get(name, article_id)
        except RedisError:
            raw = None  # the routes answer an outage with their 503
        if raw is None:
            await self.app(scope, receive, send)
            return
        record_cache_lookup(True)
        answer = self._answer_of(raw)
        if etag_matches(if_none_match(scope), answer.etag):
            status, headers, body = 304, answer.not_modified, b""
        else:
            status, headers, body = 200, answer.full, answer.body
        # A copy: what is kept must not change with whatever a server does to what it is sent.
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})
        record_http("GET", ROUTES[path_kind], status, time.perf_counter() - started)


class FastPathApp(FastAPI):
    """FastAPI with `fast_path` (when set) in front of all of it, per-request checks included."""

    fast_path: Callable[[ASGIApp], ASGIApp] | None = None
    _front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self._front is None:
            self._front = self.fast_path(super().__call__)
        await self._front(scope, receive, send)
