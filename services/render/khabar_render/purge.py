"""Optional CDN purge: tell a webhook which surrogate keys changed.

Every fragment render serves carries a `Surrogate-Key` header: `article:<id>`
for each article it shows, plus `section:<slug>` on a section's listing pages
and `home` on the home page (a new story shows up there without being shown
before). The webhook receives `{"surrogate_keys": [...]}` with the keys of
changed articles, touched sections and home, so a CDN can drop exactly the
pages that went stale.

A purge the webhook did not take raises `DependencyUnavailable`: the batch is
not acked, and its redelivery applies every effect again, this purge with
them. A withdrawal may be a legal takedown; a page the edge keeps serving is
not acceptable for the length of a max-age.
"""

from urllib.parse import quote

import httpx

from khabar_shared.logging import get_logger
from khabar_shared.outages import DependencyUnavailable

log = get_logger(__name__)

HOME_KEY = "home"


def surrogate_key(article_id: str) -> str:
    return f"article:{article_id}"


def section_surrogate_key(slug: str) -> str:
    # A newsroom's own category may be named in any script; header values are ASCII.
    return f"section:{quote(slug, safe='-._~')}"


def purge_keys(article_ids: list[str], sections: set[str]) -> list[str]:
    """The surrogate keys of changed articles and the listings they were or are in."""
    keys = [surrogate_key(article_id) for article_id in article_ids]
    keys += [section_surrogate_key(slug) for slug in sorted(sections)]
    return [*keys, HOME_KEY]


class PurgeNotifier:
    def __init__(self, webhook_url: str) -> None:
        self._url = webhook_url
        self._http = httpx.AsyncClient(timeout=5.0) if webhook_url else None

    async def purge(self, keys: list[str]) -> None:
        if self._http is None or not keys:
            return
        try:
            response = await self._http.post(self._url, json={"surrogate_keys": keys})
            response.raise_for_status()
        except httpx.HTTPError as error:
            log.warning("purge_webhook_failed", error=str(error), keys=len(keys))
            raise DependencyUnavailable("purge webhook", str(error)) from error

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
