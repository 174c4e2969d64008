"""The watched feeds and what became of each poll, kept in one Redis hash.

One record per feed URL: its poll interval and language, the validators of
its last answer (`ETag`, `Last-Modified`) for a conditional GET, when it is
next due, how many polls in a row failed, and the last result (shown by
`khabar status`). Every ingest replica polls; a short lock per feed keeps
two from polling the same feed at once.
"""

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from khabar_shared.redis_helpers import RedisClient

FEEDS_HASH = "khabar:ingest:watched-feeds"
LOCK_PREFIX = "khabar:ingest:watched-feed-lock:"


class PollResult(BaseModel):
    at: datetime
    outcome: str = Field(description="fetched, not-modified or failed")
    http_status: int | None = None
    accepted: int = 0
    unchanged: int = 0
    refused: int = 0
    error: str = ""


class WatchedFeed(BaseModel):
    url: str
    interval_s: int = Field(ge=10)
    language: str | None = None
    added_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    next_at: datetime
    failures: int = 0
    last: PollResult | None = None


def backoff(interval_s: int, failures: int, max_backoff_s: int) -> timedelta:
    """After `failures` failed polls in a row: the interval doubled each time, capped."""
    return timedelta(seconds=min(max_backoff_s, interval_s * 2 ** min(failures, 20)))


async def add_feed(
    redis: RedisClient, url: str, interval_s: int, language: str | None
) -> WatchedFeed:
    now = datetime.now(UTC)
    feed = WatchedFeed(url=url, interval_s=interval_s, language=language, added_at=now, next_at=now)
    await redis.hset(FEEDS_HASH, url, feed.model_dump_json())
    return feed


async def remove_feed(redis: RedisClient, url: str) -> bool:
    return bool(await redis.hdel(FEEDS_HASH, url))


async def list_feeds(redis: RedisClient) -> list[WatchedFeed]:
    return sorted(
        (WatchedFeed.model_validate_json(raw) for raw in await redis.hvals(FEEDS_HASH)),
        key=lambda feed: feed.url,
    )


async def save_poll(redis: RedisClient, feed: WatchedFeed) -> None:
    """Write the feed's new state back, unless it was removed while being polled."""
    if await redis.hexists(FEEDS_HASH, feed.url):
        await redis.hset(FEEDS_HASH, feed.url, feed.model_dump_json())


async def take_lock(redis: RedisClient, url: str, seconds: float) -> bool:
    return bool(await redis.set(LOCK_PREFIX + url, "1", nx=True, px=max(1, int(seconds * 1000))))
