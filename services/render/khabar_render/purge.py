"""Optional CDN purge: tell a webhook which articles' fragments changed.

The webhook receives `{"surrogate_keys": ["article:<id>", ...]}`; every
fragment render serves carries the same keys in its `Surrogate-Key` header,
so a CDN can drop exactly the pages that show a changed article.
"""

import httpx

from khabar_shared.logging import get_logger

log = get_logger(__name__)


def surrogate_key(article_id: str) -> str:
    return f"article:{article_id}"


class PurgeNotifier:
    def __init__(self, webhook_url: str) -> None:
        self._url = webhook_url
        self._http = httpx.AsyncClient(timeout=5.0) if webhook_url else None

    async def purge(self, article_ids: list[str]) -> None:
        if self._http is None or not article_ids:
            return
        keys = [surrogate_key(article_id) for article_id in article_ids]
        # A CDN that is down must not hold back the pipeline: the cache has
        # short max-age, so a missed purge heals itself.
        try:
            response = await self._http.post(self._url, json={"surrogate_keys": keys})
            response.raise_for_status()
        except httpx.HTTPError as error:
            log.warning("purge_webhook_failed", error=str(error), keys=len(keys))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
