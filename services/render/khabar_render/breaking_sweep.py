"""Purges the pages of flashes that stopped breaking by time, or by an answer filed elsewhere.

The handler purges what a changed article touches; a flash that stops breaking because
time passed changes nothing, and one answered by a full article in another section is
not in that article's listings. The sweeper runs beside the consumer and finds them.

Each sweep: move the store's epoch, purge the cached fragments that showed them, tell the
edge, then forget them and move the epoch again (one transaction), in that order. A crash
before the last step leaves them recorded, and the next sweep does it all again; moving
the epoch before the purge refuses a render that read them while they were breaking and
stores its fragments after the purge (`FragmentCache.store`).
"""

import asyncio

from khabar_render.breaking import ANSWERED_KEY, FLASH_STORY_KEY, FLASHES_KEY, BreakingNews
from khabar_render.purge import PurgeNotifier, surrogate_key
from khabar_render.store import EPOCH_KEY, ArticleStore, FragmentCache
from khabar_shared import failpoints
from khabar_shared.logging import get_logger
from khabar_shared.outages import DependencyUnavailable
from khabar_shared.pipeline import Command, send

log = get_logger(__name__)

PURGED = failpoints.point("breaking.purged", "ended flashes' pages purged, flashes not forgotten")


class BreakingSweeper:
    def __init__(
        self,
        news: BreakingNews,
        articles: ArticleStore,
        cache: FragmentCache,
        notifier: PurgeNotifier,
    ) -> None:
        self._news = news
        self._articles = articles
        self._cache = cache
        self._notifier = notifier

    async def sweep(self) -> list[str]:
        """The flashes that stopped breaking, their pages purged."""
        at = self._news.clock()
        gone = [
            i
            for i, ts, _, answered in await self._news.flashes()
            if not self._news.is_breaking(ts, answered, at)
        ]
        if gone:
            # The epoch first: a render that read them still breaking and stores after
            # the purge below is refused (its store is conditional on the epoch it read).
            (epoch,) = await send(self._news.redis, [("INCR", EPOCH_KEY)])
            await self._cache.purge(await self._articles.dependents_many(gone), epoch=int(epoch))
            await self._notifier.purge([surrogate_key(i) for i in gone])
            failpoints.check(PURGED)
        commands: list[Command] = []
        if gone:
            commands += [("ZREM", FLASHES_KEY, *gone), ("HDEL", FLASH_STORY_KEY, *gone)]
            commands.append(("INCR", EPOCH_KEY))
        # A story answered long ago stops no flash: one still breaking is newer than that.
        commands.append(("ZREMRANGEBYSCORE", ANSWERED_KEY, "-inf", at - 2 * self._news.window_s))
        await send(self._news.redis, commands, transaction=True)
        if gone:
            log.info("breaking_news_ended", article_ids=gone)
        return gone

    async def run(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep()
            except (DependencyUnavailable, ConnectionError, OSError) as error:
                log.warning("breaking_sweep_failed", error=str(error))
