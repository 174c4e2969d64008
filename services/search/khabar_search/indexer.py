"""Keeps the index equal to the latest enriched version of every live article.

Many events become one Meilisearch task; events are acked only after the task
succeeded (the consumer acks when `handle` returns). A version guard in Redis
makes duplicates and out-of-order events harmless: a version older than the
one already applied never overwrites it, and a withdrawal is never undone by
an older update.
"""

import asyncio

from khabar_search.documents import to_document
from khabar_search.meili import UNAVAILABLE, MeiliWriter
from khabar_shared.consumer import Delivery
from khabar_shared.events import EnrichedEvent
from khabar_shared.logging import get_logger
from khabar_shared.redis_helpers import RedisClient

log = get_logger(__name__)

VERSIONS_KEY = "khabar:search:versions"

# Claim each (id, version) unless a newer version was already claimed.
# Equal versions pass: a retry after a crash must be able to re-apply.
CLAIM_VERSIONS = """
local passed = {}
for i = 1, #ARGV, 2 do
  local id, version = ARGV[i], tonumber(ARGV[i + 1])
  local known = tonumber(redis.call('HGET', KEYS[1], id) or '0')
  if version >= known then
    redis.call('HSET', KEYS[1], id, version)
    table.insert(passed, id)
  end
end
return passed
"""


def latest_per_article(deliveries: list[Delivery[EnrichedEvent]]) -> dict[str, EnrichedEvent]:
    latest: dict[str, EnrichedEvent] = {}
    for delivery in deliveries:
        event = delivery.event
        current = latest.get(event.article_id)
        if current is None or event.version >= current.version:
            latest[event.article_id] = event
    return latest


class Indexer:
    def __init__(self, redis: RedisClient, writer: MeiliWriter, retry_max_s: float) -> None:
        self._redis = redis
        self._writer = writer
        self._retry_max_s = retry_max_s
        self._claim = redis.register_script(CLAIM_VERSIONS)

    async def handle(self, deliveries: list[Delivery[EnrichedEvent]]) -> None:
        latest = latest_per_article(deliveries)
        passed = await self._claim_versions(latest)
        upserts = [
            to_document(event.enriched).model_dump()
            for article_id, event in latest.items()
            if article_id in passed and event.type != "article.withdrawn" and event.enriched
        ]
        deletes = [
            article_id for article_id, event in latest.items()
            if article_id in passed and event.type == "article.withdrawn"
        ]
        await self._apply_with_retry(upserts, deletes)
        log.info("search_batch_applied", upserts=len(upserts), deletes=len(deletes),
                 skipped=len(latest) - len(passed), events=len(deliveries))

    async def _claim_versions(self, latest: dict[str, EnrichedEvent]) -> set[str]:
        args: list[str | int] = []
        for article_id, event in latest.items():
            args += [article_id, event.version]
        passed = await self._claim(keys=[VERSIONS_KEY], args=args)
        return {item.decode() if isinstance(item, bytes) else item for item in passed}

    async def _apply_with_retry(self, upserts: list[dict], deletes: list[str]) -> None:
        """Meilisearch down: wait and retry with backoff; the events stay unacked meanwhile."""
        delay, waited = 0.2, 0.0
        while True:
            try:
                await self._writer.apply(upserts, deletes)
                return
            except UNAVAILABLE as error:
                if waited >= self._retry_max_s:
                    raise
                log.warning("meili_unavailable", error=str(error), retry_in_s=delay)
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)
