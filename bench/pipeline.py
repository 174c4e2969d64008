"""Pipeline benchmark (issue 2): whole-pipeline throughput and publish-to-visible latency.

    .venv/bin/python -m bench.pipeline --articles 2000 --latency-articles 200

Starts its own Redis, Meilisearch and the four services, then measures, in
the same run and on the same real articles:

- articles/s from the first POST until every article is searchable (in the
  Meilisearch index) and rendered (its fragment stored), beside raw
  Meilisearch bulk-adding the same articles to a fresh index; and where the
  machine's CPU went, per article and process, in both (the pipeline's
  throughput can only approach the raw engine's if all its processes
  together spend about what raw Meilisearch alone spends);
- publish-to-searchable and publish-to-rendered latency (p50/p95/p99) at a
  steady 10 articles/s (from each consumer's own record of when it applied
  the article), beside raw Meilisearch finishing the task of one added
  document at the same rate, into its index of the same bulk articles: a
  one-document task costs more the bigger the index, so both add to an
  index of the same size.

Prints a table; it is not a test.
"""

import argparse
import asyncio
import html
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
import orjson
import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from bench.harness import BenchSystem, load_articles, percentile, running_system
from khabar_ingest.formats.writer import article_to_ninjs
from khabar_render.store import LATEST_KEY
from khabar_shared.events import Article
from khabar_shared.names import (
    ARTICLE_EVENTS_STREAM,
    ENRICH_GROUP,
    ENRICHED_STREAM,
    RENDER_GROUP,
    SEARCH_GROUP,
    applied_key,
)

TAGS = re.compile(r"<[^>]+>")
POLL_S = 0.005


def raw_document(article: Article) -> dict[str, str]:
    return {
        "id": article.id,
        "headline": article.headline,
        "lead": article.lead,
        "body": html.unescape(TAGS.sub(" ", article.body_html)),
    }


def request_bodies(articles: list[Article]) -> list[bytes]:
    """Each article as the JSON a newsroom tool would POST, encoded before any clock starts."""
    return [orjson.dumps(article_to_ninjs(article)) for article in articles]


async def post_all(system: BenchSystem, bodies: list[bytes], concurrency: int = 16) -> set[str]:
    """POST every article; returns the ids ingest accepted (the rest are printed)."""
    gate = asyncio.Semaphore(concurrency)
    accepted: set[str] = set()
    headers = {"Authorization": f"Bearer {system.ingest_key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=system.url("ingest"), headers=headers, timeout=60
    ) as client:

        async def post(body: bytes) -> None:
            async with gate:
                answer = await client.post("/v1/articles", content=body)
            if answer.status_code == 202:
                accepted.add(answer.json()["article_id"])
            else:
                Console().print(f"  rejected: {answer.status_code} {answer.text[:200]}")

        await asyncio.gather(*(post(body) for body in bodies))
    return accepted


async def wait_until(probe: Callable[[], Awaitable[bool]], timeout_s: float = 900) -> float:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if await probe():
            return time.perf_counter()
        await asyncio.sleep(0.02)
    raise TimeoutError("the pipeline did not catch up")


async def enrich_caught_up(redis: aioredis.Redis, posted: int) -> bool:
    """Enrich read every posted event and acked it (refresh events make the enriched
    stream longer than the number of articles, so its length says nothing)."""
    for group in await redis.xinfo_groups(ARTICLE_EVENTS_STREAM):
        if group["name"].decode() == ENRICH_GROUP:
            read_all = (group["entries-read"] or 0) >= posted
            return read_all and not group["pending"] and not group["lag"]
    return False


async def pipeline_throughput(system: BenchSystem, articles: list[Article]) -> float:
    meili = httpx.AsyncClient(
        base_url=system.meili_url,
        timeout=10,
        headers={"Authorization": f"Bearer {system.master_key}"},
    )
    render = httpx.AsyncClient(base_url=system.url("render"), timeout=10)
    wanted: set[str] = set()

    redis = aioredis.from_url(system.redis_url)
    stages: dict[str, float] = {}

    async def all_visible() -> bool:
        now = time.perf_counter()
        if "enrich" not in stages and await enrich_caught_up(redis, len(wanted)):
            stages["enrich"] = now
        if "render" not in stages and await redis.zcard(LATEST_KEY) >= len(wanted):
            stages["render"] = now
        stats = (await meili.get(f"/indexes/{system.index}/stats")).json()
        if "search" not in stages and stats.get("numberOfDocuments", 0) >= len(wanted):
            stages["search"] = now
        return {"enrich", "search", "render"} <= stages.keys()

    bodies = request_bodies(articles)
    started = time.perf_counter()
    wanted |= await post_all(system, bodies)
    stages["ingest"] = time.perf_counter()
    finished = await wait_until(all_visible)
    await redis.aclose()
    console = Console()
    for stage, when in sorted(stages.items(), key=lambda item: item[1]):
        console.print(f"  {stage:<7} done after {when - started:6.1f} s")
    await meili.aclose()
    await render.aclose()
    return len(wanted) / (finished - started)


async def streams_drained(system: BenchSystem) -> bool:
    redis = aioredis.from_url(system.redis_url)
    try:
        for stream in (ARTICLE_EVENTS_STREAM, ENRICHED_STREAM):
            for group in await redis.xinfo_groups(stream):
                if group["pending"] or group.get("lag"):
                    return False
        return True
    finally:
        await redis.aclose()


async def raw_bulk(system: BenchSystem, articles: list[Article], batch: int = 500) -> float:
    from khabar_search.index_settings import index_settings

    headers = {"Authorization": f"Bearer {system.master_key}"}
    async with httpx.AsyncClient(base_url=system.meili_url, headers=headers, timeout=60) as meili:
        await wait_task(
            meili,
            (await meili.post("/indexes", json={"uid": "raw_bulk", "primaryKey": "id"})).json(),
        )
        await wait_task(
            meili,
            (
                await meili.patch(
                    "/indexes/raw_bulk/settings",
                    json={"localizedAttributes": index_settings()["localizedAttributes"]},
                )
            ).json(),
        )
        documents = [raw_document(a) for a in articles]
        started = time.perf_counter()
        tasks = [
            (await meili.post("/indexes/raw_bulk/documents", json=documents[i : i + batch])).json()
            for i in range(0, len(documents), batch)
        ]
        for task in tasks:
            await wait_task(meili, task)
        return len(documents) / (time.perf_counter() - started)


async def wait_task(meili: httpx.AsyncClient, task: dict) -> None:
    while True:
        state = (await meili.get(f"/tasks/{task['taskUid']}")).json()
        if state["status"] in ("succeeded", "failed", "canceled"):
            if state["status"] != "succeeded":
                raise RuntimeError(f"task failed: {state.get('error')}")
            return
        await asyncio.sleep(POLL_S)


async def steady_latency(
    system: BenchSystem, articles: list[Article], rate: float
) -> dict[str, list[float]]:
    """Publish at a steady rate; read when enrich, search and render applied each article.

    Search acks an event only after its Meilisearch task succeeded and render
    only after the fragments are stored, so the time each consumer recorded
    (the trace that `/v1/articles/{id}/trace` shows) is when the article
    became searchable and rendered. Reading it afterwards, instead of polling
    every article over HTTP while it happens, keeps the benchmark from
    loading the machine it measures.
    """
    sent_at: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {system.ingest_key}"}
    async with httpx.AsyncClient(
        base_url=system.url("ingest"), headers=headers, timeout=10
    ) as ingest:

        async def publish(article: Article) -> None:
            sent = time.time()
            answer = await ingest.post("/v1/articles", json=article_to_ninjs(article))
            answer.raise_for_status()
            sent_at[answer.json()["article_id"]] = sent

        await steady(articles, rate, publish)
    redis = aioredis.from_url(system.redis_url)
    latencies = {
        group: await applied_latencies(redis, group, sent_at)
        for group in (ENRICH_GROUP, SEARCH_GROUP, RENDER_GROUP)
    }
    await redis.aclose()
    return latencies


async def applied_latencies(
    redis: aioredis.Redis, group: str, sent_at: dict[str, float], timeout_s: float = 60
) -> list[float]:
    """Milliseconds from each POST until `group` applied version 1 (waits for stragglers)."""
    deadline = time.perf_counter() + timeout_s
    applied: dict[str, float] = {}
    while len(applied) < len(sent_at) and time.perf_counter() < deadline:
        for article_id in sent_at.keys() - applied.keys():
            when = await redis.hget(applied_key(group, article_id), "1")
            if when:
                applied[article_id] = datetime.fromisoformat(when.decode()).timestamp()
        await asyncio.sleep(0.2)
    return [(applied[i] - sent_at[i]) * 1000 for i in applied]


async def raw_single_latency(
    system: BenchSystem, articles: list[Article], rate: float
) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {system.master_key}"}
    async with httpx.AsyncClient(base_url=system.meili_url, headers=headers, timeout=10) as meili:

        async def add(article: Article) -> None:
            sent = time.perf_counter()
            task = (
                await meili.post("/indexes/raw_bulk/documents", json=[raw_document(article)])
            ).json()
            await wait_task(meili, task)
            latencies.append((time.perf_counter() - sent) * 1000)

        await steady(articles, rate, add)
    return latencies


async def steady(
    articles: list[Article], rate: float, action: Callable[[Article], Awaitable[None]]
) -> None:
    started = time.perf_counter()
    tasks = []
    for i, article in enumerate(articles):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(action(article)))
    await asyncio.gather(*tasks)


def cpu_table(
    before: dict[str, float], middle: dict[str, float], after: dict[str, float], articles: int
) -> Table:
    """Where the two cores went: CPU ms per article by process, pipeline beside raw bulk.

    The pipeline's throughput can reach the raw engine's only if all its
    processes together spend about what raw Meilisearch alone spends.
    """
    table = Table(title=f"CPU per article (ms), {articles} articles")
    for column in ("process", "whole pipeline", "raw Meilisearch bulk"):
        table.add_column(column, justify="left" if column == "process" else "right")

    def per_article(start: dict[str, float], end: dict[str, float], name: str) -> float:
        return (end[name] - start[name]) * 1000 / articles

    raw_meili = f"{per_article(middle, after, 'meilisearch'):.1f}"
    for name in before:
        table.add_row(
            name,
            f"{per_article(before, middle, name):.1f}",
            raw_meili if name == "meilisearch" else "",
        )
    total = sum(per_article(before, middle, name) for name in before)
    table.add_row("total", f"{total:.1f}", raw_meili)
    return table


def latency_row(name: str, values: list[float]) -> list[str]:
    return [name, str(len(values)), *(f"{percentile(values, p):.0f}" for p in (0.5, 0.95, 0.99))]


async def run(articles_count: int, latency_count: int, rate: float, batch_size: int | None) -> None:
    console = Console()
    articles = load_articles(articles_count + 2 * latency_count)
    bulk_set = articles[:articles_count]
    latency_set = articles[articles_count : articles_count + latency_count]
    raw_set = articles[articles_count + latency_count :]
    console.print(f"{len(articles)} real articles loaded; starting servers and services…")
    extra_env = {"KHABAR_BATCH_SIZE": str(batch_size)} if batch_size else {}
    with running_system(extra_env=extra_env) as system:
        before = system.cpu_by_process() | {"(benchmark client)": time.process_time()}
        pipeline_rate = await pipeline_throughput(system, bulk_set)
        # Refreshes of older articles' related links trail the bulk load.
        await wait_until(lambda: streams_drained(system))
        middle = system.cpu_by_process() | {"(benchmark client)": time.process_time()}
        raw_rate = await raw_bulk(system, bulk_set)
        after = system.cpu_by_process()
        latencies = await steady_latency(system, latency_set, rate)
        raw_latency = await raw_single_latency(system, raw_set, rate)

    table = Table(title=f"Throughput: {len(bulk_set)} articles")
    for column in ("path", "articles/s", "vs raw Meilisearch"):
        table.add_column(column)
    table.add_row(
        "whole pipeline (ingest → searchable and rendered)",
        f"{pipeline_rate:.0f}",
        f"{pipeline_rate / raw_rate:.2f}×",
    )
    table.add_row("raw Meilisearch bulk add (same articles)", f"{raw_rate:.0f}", "1.00×")
    console.print(table)
    console.print(cpu_table(before, middle, after, len(bulk_set)))
    latency = Table(title=f"Latency at {rate:g} articles/s (ms)")
    for column in ("path", "n", "p50", "p95", "p99"):
        latency.add_column(column)
    latency.add_row(*latency_row("publish → enriched", latencies[ENRICH_GROUP]))
    latency.add_row(*latency_row("publish → searchable", latencies[SEARCH_GROUP]))
    latency.add_row(*latency_row("publish → rendered", latencies[RENDER_GROUP]))
    latency.add_row(*latency_row("raw Meilisearch add → visible", raw_latency))
    console.print(latency)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--latency-articles", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="KHABAR_BATCH_SIZE for the services (events per read)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.articles, args.latency_articles, args.rate, args.batch_size))


if __name__ == "__main__":
    main()
