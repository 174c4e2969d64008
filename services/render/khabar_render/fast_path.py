"""Cached fragments answered before FastAPI's routing: render as the edge's origin.

The edge asks render for `/fragments/{article,related,card}/{id}` on every
miss and after every purge. When the fragment is cached and its article is
not withdrawn, the answer is the stored fragment with the headers the routes
give it (`respond`), without routing, parameter validation and dependency
solving, which cost render more than the rest of such a request. Anything
else (a miss, a withdrawal, another method, path or query) goes on to the app
unchanged, which renders, or answers 404 and 410.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from khabar_render.store import ArticleStore, FragmentCache, StoredFragment
from khabar_shared.metrics import record_cache_lookup

Respond = Callable[[Request, StoredFragment], Response]


@dataclass(frozen=True)
class RouteLabel:
    """What the HTTP metrics name a request by (`scope["route"].path`), as for the app's routes."""

    path: str


# (kind in the path, query string) -> the fragment's kind in the cache.
FRAGMENT_KINDS = {
    ("article", b""): "article",
    ("related", b""): "related",
    ("card", b""): "card",
    ("card", b"heading=h3"): "card",
    ("card", b"heading=h2"): "card-h2",
}
ROUTES = {kind: RouteLabel(f"/fragments/{kind}/{{article_id}}") for kind, _ in FRAGMENT_KINDS}


def fragment_asked(scope: dict[str, Any]) -> tuple[str, str, str] | None:
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


class CachedFragments:
    """ASGI middleware: a cached fragment of a live article, answered at once."""

    def __init__(
        self, app: Any, cache: FragmentCache, articles: ArticleStore, respond: Respond
    ) -> None:
        self.app = app
        self._cache = cache
        self._articles = articles
        self._respond = respond

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        asked = fragment_asked(scope)
        if asked is not None:
            path_kind, name, article_id = asked
            # The tombstone is checked as the routes check it: a purge may not have followed it yet.
            fragment, withdrawn = await asyncio.gather(
                self._cache.get(name), self._articles.is_withdrawn(article_id)
            )
            if fragment is not None and not withdrawn:
                record_cache_lookup(True)
                scope["route"] = ROUTES[path_kind]
                await self._respond(Request(scope), fragment)(scope, receive, send)
                return
        await self.app(scope, receive, send)
