"""Render benchmark (issue 6): cache hits over HTTP beside raw Redis, and render throughput.

    .venv/bin/python -m bench.render --articles 2000 --requests 6000

Starts its own Redis and one render process, then, in the same run and on
the same real articles:

- render throughput: every article's `EnrichedEvent` (each with up to eight
  related links to earlier stories of its section, as enrich sends them) is
  written to the enriched stream at once; articles/s and fragments/s from the
  first event until render's group has acked the last (one process), and
  until the warm lane has rendered again what the batches purged (home,
  listings, dependents: the fragment count stops moving);
- cache hits: `GET /articles/{id}` (whole pages, all cached) from 1, 16 and 64
  concurrent clients: fragments/s and p50/p99 latency, beside raw Redis GETs
  of the same fragment keys from the same client library (redis.asyncio) with
  the same concurrency.

Prints tables; it is not a test.
"""

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from bench.harness import KeepAliveClient, load_articles, percentile
from khabar_dev.processes import ProcessGroup, free_port, start_redis, start_service
from khabar_render.store import fragment_key
from khabar_shared.events import Article, EnrichedArticle, EnrichedEvent, RelatedLink, encode_event
from khabar_shared.names import ENRICHED_STREAM, RENDER_GROUP

CONCURRENCY = (1, 16, 64)
RELATED_PER_ARTICLE = 8


def enriched_events(articles: list[Article]) -> list[EnrichedEvent]:
    """Each article with links to the latest earlier stories of its section."""
    earlier: dict[str, list[str]] = {}
    events = []
    for article in articles:
        same_section = earlier.setdefault(article.category, [])
        related = [
            RelatedLink(article_id=i, score=1.0) for i in same_section[-RELATED_PER_ARTICLE:]
        ]
        same_section.append(article.id)
        enriched = EnrichedArticle(
            article=article,
            version=1,
            topic=article.category,
            related=related,
            enriched_at=datetime.now(UTC),
        )
        events.append(
            EnrichedEvent(
                event_id=str(uuid.uuid4()),
                type="article.enriched",
                article_id=article.id,
                version=1,
                correlation_id=str(uuid.uuid4()),
                source_event_id=str(uuid.uuid4()),
                enriched=enriched,
            )
        )
    return events


async def count_fragments(redis: aioredis.Redis) -> int:
    fragments = 0
    async for _ in redis.scan_iter(match=fragment_key("*"), count=1000):
        fragments += 1
    return fragments


async def settled(redis: aioredis.Redis, quiet_s: float = 1.0) -> tuple[float, int]:
    """When the fragment count last moved (the warm lane done), and the count then."""
    last_change, count = time.perf_counter(), await count_fragments(redis)
    while time.perf_counter() - last_change < quiet_s:
        await asyncio.sleep(0.1)
        now = await count_fragments(redis)
        if now != count:
            last_change, count = time.perf_counter(), now
    return last_change, count


async def render_throughput(
    redis: aioredis.Redis, events: list[EnrichedEvent]
) -> tuple[float, float, int]:
    """Seconds until render acked the last event and until its warm lane settled; fragments kept."""
    started = time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(ENRICHED_STREAM, encode_event(event))
        ids = await pipe.execute()
    last_id = ids[-1].decode()
    while True:
        group = next(
            g
            for g in await redis.xinfo_groups(ENRICHED_STREAM)
            if g["name"].decode() == RENDER_GROUP
        )
        if group["last-delivered-id"].decode() == last_id and group["pending"] == 0:
            break
        await asyncio.sleep(0.01)
    acked = time.perf_counter() - started
    warm_done, fragments = await settled(redis)
    return acked, max(acked, warm_done - started), fragments


async def closed_loop(
    concurrency: int, requests: int, call: Callable[[], Awaitable[None]]
) -> tuple[float, list[float]]:
    """`concurrency` clients, each sending its next request when the last one answered."""
    latencies: list[float] = []
    remaining = requests

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            sent = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - sent) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started), latencies


async def http_hits(
    port: int, ids: list[str], concurrency: int, requests: int
) -> tuple[float, list[float]]:
    idle = [await KeepAliveClient.open("127.0.0.1", port) for _ in range(concurrency)]
    connections = list(idle)
    pick = random.Random(concurrency).choice

    async def get() -> None:
        connection = idle.pop()
        try:
            status, body = await connection.get(f"/articles/{pick(ids)}")
        finally:
            idle.append(connection)
        if status != 200 or not body:
            raise RuntimeError(f"render answered {status}")

    try:
        await closed_loop(concurrency, min(requests, 200), get)  # warm up
        return await closed_loop(concurrency, requests, get)
    finally:
        for connection in connections:
            connection.close()


async def redis_hits(
    redis_url: str, ids: list[str], concurrency: int, requests: int
) -> tuple[float, list[float]]:
    redis = aioredis.from_url(redis_url, max_connections=concurrency)
    pick = random.Random(concurrency).choice

    async def get() -> None:
        if not await redis.get(fragment_key(f"page:{pick(ids)}")):
            raise RuntimeError("fragment missing from the cache")

    try:
        await closed_loop(concurrency, min(requests, 200), get)
        return await closed_loop(concurrency, requests, get)
    finally:
        await redis.aclose()


def row(name: str, concurrency: int, rate: float, latencies: list[float]) -> list[str]:
    return [
        name,
        str(concurrency),
        f"{rate:,.0f}",
        f"{percentile(latencies, 0.5):.2f}",
        f"{percentile(latencies, 0.99):.2f}",
    ]


async def run(articles_count: int, requests: int) -> None:
    console = Console()
    articles = load_articles(articles_count)
    events = enriched_events(articles)
    console.print(f"{len(articles)} real articles loaded; starting Redis and render…")
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-bench-render-") as tmp:
        try:
            redis_url = start_redis(group, Path(tmp) / "redis", free_port())
            port = free_port()
            env = {"KHABAR_REDIS_URL": redis_url, "KHABAR_LOG_LEVEL": "WARNING"}
            start_service(group, "render", env, port, log_path=Path(tmp) / "render.log")
            redis = aioredis.from_url(redis_url)
            acked, warmed, fragments = await render_throughput(redis, events)
            await redis.aclose()

            ids = [a.id for a in articles]
            hits = []
            for concurrency in CONCURRENCY:
                hits.append(
                    row(
                        "render GET /articles/{id}",
                        concurrency,
                        *await http_hits(port, ids, concurrency, requests),
                    )
                )
                hits.append(
                    row(
                        "raw Redis GET (redis.asyncio)",
                        concurrency,
                        *await redis_hits(redis_url, ids, concurrency, requests),
                    )
                )
        finally:
            group.stop_all()

    throughput = Table(title=f"Render throughput: {len(events)} enriched events, one process")
    for column in ("until", "seconds", "articles/s", "fragments/s", "fragments kept"):
        throughput.add_column(column)
    for until, elapsed in (("last event acked", acked), ("warm lane settled", warmed)):
        throughput.add_row(
            until,
            f"{elapsed:.1f}",
            f"{len(events) / elapsed:,.0f}",
            f"{fragments / elapsed:,.0f}",
            f"{fragments:,}",
        )
    console.print(throughput)
    table = Table(title=f"Cache hits: {requests} requests per row, whole article pages (ms)")
    for column in ("path", "clients", "fragments/s", "p50", "p99"):
        table.add_column(column)
    for line in hits:
        table.add_row(*line)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=6000)
    args = parser.parse_args()
    asyncio.run(run(args.articles, args.requests))


if __name__ == "__main__":
    main()
