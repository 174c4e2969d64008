"""What breaking news costs a listing's render (issue 23).

    .venv/bin/python -m bench.breaking --articles 2000 --rounds 30

Starts its own Redis, stores real corpus articles (and a few flashes) the way render
does, then in the same run renders home and every top section's first page again and
again (`Renderer.refresh_many`, cache writes included):

- without breaking news (the renderer as it was: no flash read);
- with it (one more pipelined read of the flashes per batch, and the banner);

beside the raw engine: GETs of the same fragments' keys from Redis. Prints a table of
batches/s and ms per batch; it is not a test. On a shared 2-core machine figures are rough.
"""

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from bench.harness import load_articles
from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_render.breaking import BreakingNews
from khabar_render.fragments import category_of
from khabar_render.renderer import Renderer
from khabar_render.site import default_site
from khabar_render.store import ArticleStore, FragmentCache, fragment_key
from khabar_shared.events import Article, EnrichedArticle

FLASHES = 5


def flashes(sections: list[str]) -> list[Article]:
    now = datetime.now(UTC)
    return [
        Article(
            id=f"bench-flash-{n}",
            uri=f"urn:bench:flash-{n}",
            language="ar",
            headline=f"عاجل: خبر عاجل رقم {n}",
            category=sections[n % len(sections)],
            versioncreated=now - timedelta(minutes=n),
            extra={"flash": True},
        )
        for n in range(FLASHES)
    ]


async def timed(rounds: int, step) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(rounds):
        await step()
    return time.perf_counter() - start


async def run(count: int, rounds: int, redis_url: str) -> None:
    site = default_site()
    redis = aioredis.from_url(redis_url)
    articles = ArticleStore(redis, lambda e: site.listings_of(category_of(e)))
    cache = FragmentCache(redis)
    names = ["home", *(f"section:{s.slug}:1" for s in site.top_sections())]
    stories = [*load_articles(count), *flashes([s.slug for s in site.top_sections()])]
    for start in range(0, len(stories), 200):
        await articles.put_many(
            [
                EnrichedArticle(
                    article=a, version=1, topic=a.category, enriched_at=datetime.now(UTC)
                )
                for a in stories[start : start + 200]
            ]
        )
    plain = Renderer(articles, cache, site, 20, 4)
    breaking = Renderer(articles, cache, site, 20, 4, BreakingNews(redis, 1800))
    shown = await breaking.refresh_many(names)
    banners = sum('class="breaking"' in (f.html if f else "") for f in shown.values())
    keys = [fragment_key(name) for name in names]

    async def raw() -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            await pipe.execute()

    results = {}
    for label, step in (
        ("raw Redis GETs of the fragments", raw),
        ("render, no breaking news", lambda: plain.refresh_many(names)),
        ("render, with breaking news", lambda: breaking.refresh_many(names)),
    ):
        await step()  # warm
        results[label] = await timed(rounds, step)
    table = Table(
        title=f"{len(names)} fragments a batch (home + top sections' first pages), "
        f"{count} articles, {FLASHES} flashes ({banners} fragments with a banner)"
    )
    for column in ("", "batches/s", "ms per batch"):
        table.add_column(column)
    for label, seconds in results.items():
        table.add_row(label, f"{rounds / seconds:.1f}", f"{1000 * seconds / rounds:.2f}")
    Console().print(table)
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    group = ProcessGroup()
    try:
        with tempfile.TemporaryDirectory() as data:
            url = start_redis(group, Path(data), free_port())
            asyncio.run(run(args.articles, args.rounds, url))
    finally:
        group.stop_all()


if __name__ == "__main__":
    main()
