"""Polls the watched feeds that are due: conditional GET, read, accept, back off on errors.

A feed answering 304 costs one request; a 200 is read as RSS/Atom and every
entry goes through the store like any other change (re-sent entries are
recognised as unchanged); a failure (network, HTTP error, not a feed)
doubles the wait before the next try, up to `max_backoff_s`.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from khabar_ingest.formats.checks import guess_language
from khabar_ingest.formats.errors import InvalidArticle
from khabar_ingest.formats.feeds import read_feed
from khabar_ingest.store import ArticleStore, Change, StoreResult
from khabar_shared.logging import get_logger
from khabar_shared.redis_helpers import RedisClient

from .registry import PollResult, WatchedFeed, backoff, list_feeds, save_poll, take_lock

log = get_logger(__name__)


class FeedFailed(Exception):
    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class FeedPoller:
    def __init__(
        self,
        redis: RedisClient,
        store: ArticleStore,
        client: httpx.AsyncClient,
        max_bytes: int,
        max_backoff_s: int,
    ) -> None:
        self._redis, self._store, self._client = redis, store, client
        self._max_bytes, self._max_backoff_s = max_bytes, max_backoff_s

    async def poll_due(self) -> int:
        """Poll every feed due now (that no other replica is polling); how many were polled."""
        now = datetime.now(UTC)
        polled = 0
        for feed in await list_feeds(self._redis):
            if feed.next_at <= now and await take_lock(self._redis, feed.url, feed.interval_s):
                await save_poll(self._redis, await self.poll(feed))
                polled += 1
        return polled

    async def poll(self, feed: WatchedFeed) -> WatchedFeed:
        now = datetime.now(UTC)
        try:
            result, validators = await self._fetch_and_accept(feed)
        except FeedFailed as failed:
            failures = feed.failures + 1
            log.warning("feed_poll_failed", url=feed.url, error=str(failed), failures=failures)
            return feed.model_copy(update={
                "failures": failures,
                "next_at": now + backoff(feed.interval_s, failures, self._max_backoff_s),
                "last": PollResult(at=now, outcome="failed", http_status=failed.http_status,
                                   error=str(failed)[:300]),
            })  # fmt: skip
        log.info(
            "feed_polled",
            url=feed.url,
            outcome=result.outcome,
            accepted=result.accepted,
            unchanged=result.unchanged,
            refused=result.refused,
        )
        return feed.model_copy(update={
            **validators, "failures": 0, "last": result,
            "next_at": now + timedelta(seconds=feed.interval_s),
        })  # fmt: skip

    async def _fetch_and_accept(
        self, feed: WatchedFeed
    ) -> tuple[PollResult, dict[str, str | None]]:
        headers = {}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        data, status, validators = await self._get(feed.url, headers)
        now = datetime.now(UTC)
        if status == 304:
            return PollResult(at=now, outcome="not-modified", http_status=304), {}
        language = feed.language or guess_language(data[:20000].decode("utf-8", errors="ignore"))
        try:
            read = read_feed(data, default_language=language, source=_host(feed.url))
        except InvalidArticle as invalid:
            raise FeedFailed(str(invalid), status) from invalid
        correlation_id = str(uuid.uuid4())
        changes = [
            Change(
                article=article,
                submitted_by=f"feed:{_host(feed.url)}",
                correlation_id=correlation_id,
            )
            for article in read.articles
        ]
        outcomes = await self._store.accept_many(changes)
        accepted = sum(1 for o in outcomes if isinstance(o, StoreResult) and not o.replayed)
        unchanged = sum(1 for o in outcomes if isinstance(o, StoreResult) and o.replayed)
        refused = len(read.skipped) + len(outcomes) - accepted - unchanged
        return PollResult(
            at=now,
            outcome="fetched",
            http_status=status,
            accepted=accepted,
            unchanged=unchanged,
            refused=refused,
        ), validators

    async def _get(
        self, url: str, headers: dict[str, str]
    ) -> tuple[bytes, int, dict[str, str | None]]:
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return b"", 304, {}
                if response.status_code != 200:
                    raise FeedFailed(f"HTTP {response.status_code}", response.status_code)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise FeedFailed(f"the feed is larger than {self._max_bytes} bytes", 200)
                    chunks.append(chunk)
                validators = {
                    "etag": response.headers.get("etag"),
                    "last_modified": response.headers.get("last-modified"),
                }
                return b"".join(chunks), 200, validators
        except httpx.HTTPError as error:
            raise FeedFailed(f"{type(error).__name__}: {error}") from error


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


async def run_poller(poller: FeedPoller, poll_s: float) -> None:
    """Forever: poll the feeds that are due, then look again after `poll_s`."""
    while True:
        try:
            await poller.poll_due()
        except Exception as error:  # noqa: BLE001 - Redis away: keep trying, never die
            log.warning("feed_poller_failed", error=str(error))
        await asyncio.sleep(poll_s)
