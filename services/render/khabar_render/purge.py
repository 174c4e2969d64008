"""Optional CDN purge: tell a webhook which surrogate keys changed.

Every fragment render serves carries a `Surrogate-Key` header: `article:<id>`
for each article it shows, plus `section:<slug>` on a section's listing pages
and `home` on the home page (a new story shows up there without being shown
before). The edge's listings and home list cards as ESI includes and carry
`listing:<slug>` / `home-listing` instead, purged only when a listing's
stories or their order changed. The webhook receives `{"surrogate_keys": [...]}` with the keys of
changed articles, touched sections and home, so a CDN can drop exactly the
pages that went stale.

The edge (Varnish with xkey, `edge/khabar.vcl`) is purged the way it
understands: `PURGE /` with the keys space-separated in `xkey-purge` and the
edge's token, in requests of at most `EDGE_PURGE_HEADER_BYTES` of keys (the
edge's request header limit is 8 KB). A name that resolves to several
addresses (the edge scaled in compose) is purged at each of them: every
replica keeps its own cache.

A purge the webhook did not take raises `DependencyUnavailable`: the batch is
not acked, and its redelivery applies every effect again, this purge with
them. A withdrawal may be a legal takedown; a page the edge keeps serving is
not acceptable for the length of a max-age.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import quote, urlsplit

import httpx

from khabar_render.edge_connection import EdgeConnection
from khabar_shared.logging import get_logger
from khabar_shared.outages import DependencyUnavailable

log = get_logger(__name__)

HOME_KEY = "home"
# Which stories the edge's listing (or home) fragments show, in which order: their
# cards are fragments of their own, so a story's change alone leaves these be.
HOME_LISTING_KEY = "home-listing"
EDGE_PURGE_HEADER_BYTES = 4000
EDGE_PURGE_ATTEMPTS = 3
EDGE_PURGE_TIMEOUT_S = 2.0


def surrogate_key(article_id: str) -> str:
    return f"article:{article_id}"


def part_key(part: str, article_id: str) -> str:
    """One of an article's parts that show its related links: `body` (with the inline
    links) or `related` (the block). A refresh of links purges only the part that changed,
    where `article:<id>` would drop every card, listing and page that shows the story."""
    return f"{part}:{article_id}"


def section_surrogate_key(slug: str) -> str:
    # A newsroom's own category may be named in any script; header values are ASCII.
    return f"section:{quote(slug, safe='-._~')}"


def listing_surrogate_key(slug: str) -> str:
    return f"listing:{quote(slug, safe='-._~')}"


def purge_keys(article_ids: list[str], sections: set[str], reordered: set[str]) -> list[str]:
    """The surrogate keys of changed articles and the listings they were or are in.

    Section and home keys name what shows the stories whole (feeds, sitemaps,
    render's whole listings); the listing keys, what lists their cards, only
    for the listings (`reordered`) whose stories or order changed.
    """
    keys = [surrogate_key(article_id) for article_id in article_ids]
    keys += [section_surrogate_key(slug) for slug in sorted(sections)]
    keys += [listing_surrogate_key(slug) for slug in sorted(reordered)]
    return [*keys, HOME_KEY, *([HOME_LISTING_KEY] if reordered else [])]


def header_chunks(keys: list[str], limit: int = EDGE_PURGE_HEADER_BYTES) -> list[str]:
    """The keys as space-separated header values, none longer than `limit` bytes."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for key in keys:
        length = len(key.encode()) + 1
        if current and size + length > limit:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(key)
        size += length
    if current:
        chunks.append(" ".join(current))
    return chunks


class EdgePurger:
    """Drops every object at the edge that names one of the keys (xkey's hard purge)."""

    def __init__(self, url: str, token: str) -> None:
        self._url = url
        self._token = token
        # One kept-alive connection per replica address (`edge_connection.py`: a purge
        # through httpx cost render more CPU than a small batch's Redis work).
        self._connections: dict[str, EdgeConnection] = {}
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def purge(self, keys: list[str]) -> None:
        if not self._url or not keys:
            return
        urls = await self._replica_urls()
        for gone in self._connections.keys() - set(urls):  # a replica no longer named
            await self._connections.pop(gone).aclose()
        for chunk in header_chunks(keys):
            await asyncio.gather(*(self._purge_chunk(url, chunk) for url in urls))

    async def _replica_urls(self) -> list[str]:
        """The edge's URL once per address its host name has now."""
        parts = urlsplit(self._url)
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
            return [self._url]
        except ValueError:
            pass
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or 80, type=socket.SOCK_STREAM
            )
        except OSError:
            return [self._url]
        addresses = dict.fromkeys(str(info[4][0]) for info in found)
        netloc = "{}:{}" if parts.port else "{}"
        return [
            parts._replace(
                netloc=netloc.format(f"[{address}]" if ":" in address else address, parts.port)
            ).geturl()
            for address in addresses
        ] or [self._url]

    async def _purge_chunk(self, url: str, chunk: str) -> None:
        # Like the webhook: an edge that did not take the purge leaves the batch
        # unacked; its redelivery purges again.
        headers = {"xkey-purge": chunk, "Authorization": f"Bearer {self._token}"}
        for attempt in range(1, EDGE_PURGE_ATTEMPTS + 1):
            try:
                status = await self._connection(url).request("PURGE", headers)
                if status >= 400:
                    raise EdgePurgeRefused(f"the edge answered {status}")
                return
            except (OSError, EOFError, ValueError) as error:
                if attempt == EDGE_PURGE_ATTEMPTS:
                    log.warning("edge_purge_failed", error=str(error), keys=chunk.count(" ") + 1)
                    raise DependencyUnavailable("edge purge", str(error)) from error
                else:
                    await asyncio.sleep(0.1 * attempt)

    def _connection(self, url: str) -> EdgeConnection:
        if url not in self._connections:
            # Short: a hung edge must not hold a batch for long (three tries each).
            self._connections[url] = EdgeConnection(url, timeout_s=EDGE_PURGE_TIMEOUT_S)
        return self._connections[url]

    async def aclose(self) -> None:
        self._closed = True
        connections, self._connections = list(self._connections.values()), {}
        await asyncio.gather(*(connection.aclose() for connection in connections))


class EdgePurgeRefused(OSError):
    """The edge answered a purge with an error status (a wrong token, no keys named)."""


class PurgeNotifier:
    def __init__(self, webhook_url: str, edge: EdgePurger | None = None) -> None:
        self._url = webhook_url
        self._http = httpx.AsyncClient(timeout=5.0) if webhook_url else None
        self._edge = edge

    async def purge(self, keys: list[str]) -> None:
        if self._edge is not None:
            await self._edge.purge(keys)
        if self._http is None or not keys:
            return
        try:
            response = await self._http.post(self._url, json={"surrogate_keys": keys})
            response.raise_for_status()
        except httpx.HTTPError as error:
            log.warning("purge_webhook_failed", error=str(error), keys=len(keys))
            raise DependencyUnavailable("purge webhook", str(error)) from error

    async def aclose(self) -> None:
        if self._edge is not None:
            await self._edge.aclose()
        if self._http is not None:
            await self._http.aclose()
