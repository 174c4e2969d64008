"""Retention of what grows besides the streams: article histories and dead letters.

- An article's history (ingest's list of its versions) loses entries accepted
  before the cut, but always keeps its newest entry: `GET /v1/articles/{id}/history`
  still says what the article is now.
- A dead-letter stream loses entries older than the cut, by their ids' time.

Histories only lose entries from their head, and ingest only appends to their
tail, so an LTRIM never races a write.
"""

from datetime import UTC, datetime
from typing import cast

import orjson

from khabar_shared.names import article_history_key
from khabar_shared.redis_helpers import RedisClient

SCAN_COUNT = 1000


def accepted_at(raw: bytes) -> datetime | None:
    """When a history entry was accepted (ISO text, or ms for a released embargo)."""
    value = orjson.loads(raw).get("accepted_at")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def old_head(entries: list[bytes], cut: datetime) -> int:
    """How many entries at the head were accepted before `cut`, never the newest one."""
    count = 0
    for raw in entries[:-1]:
        when = accepted_at(raw)
        if when is None or when >= cut:
            break
        count += 1
    return count


async def trim_histories(redis: RedisClient, cut: datetime) -> int:
    """Drop history entries accepted before `cut` (each article keeps its newest); how many."""
    removed = 0
    async for key in redis.scan_iter(match=article_history_key("*"), count=SCAN_COUNT):
        count = old_head(cast(list[bytes], await redis.lrange(key, 0, -1)), cut)
        if count:
            await redis.ltrim(key, count, -1)
            removed += count
    return removed
