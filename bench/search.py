"""Search benchmark (issue 5): readers' query latency and bulk indexing, beside raw Meilisearch.

    .venv/bin/python -m bench.search --articles 20000 --queries 300

Starts its own Redis, Meilisearch and the search service, enriches real
corpus articles the way enrich does (shared text pipeline and enrich's
tagger; not timed), then measures in the same run:

- bulk indexing: the indexer's batch handler (version guard and copies in
  Redis, documents, one Meilisearch task per batch, waits, re-checks) beside
  raw Meilisearch adding the same documents in batches of the same size to a
  fresh index with the same settings;
- `GET /v1/search` p50/p95/p99 and queries/s at 1, 16 and 64 concurrent
  clients, beside raw Meilisearch answering the same queries on the same
  index: once as a results page needs them (facets, highlights, snippet
  crop) and once as the bare `q` + `limit`;
- the deepest page a reader may ask for (`KHABAR_MAX_RESULT_DEPTH` results
  deep, 10 a page) beside page 1 of the same queries, at 1 and 16 clients:
  latency and CPU per query, and their ratio.

Prints tables; it is not a test.
"""

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.harness import percentile, running_system
from bench.relevance import (
    document_frequencies,
    enriched_article,
    load_corpus_articles,
    salient_query,
)
from khabar_search.documents import to_document
from khabar_search.indexer import Indexer
from khabar_search.meili import MeiliWriter
from khabar_search.query import RETRIEVED
from khabar_search.settings import SearchSettings
from khabar_search.snippets import SNIPPET_WORDS
from khabar_search.synonyms import load_synonyms
from khabar_shared.consumer import Delivery
from khabar_shared.events import Article, EnrichedEvent
from khabar_shared.logging import configure_logging
from khabar_shared.redis_helpers import connect
from khabar_shared.text import is_stopword, term, tokenize

console = Console(width=150)  # wide tables stay readable when the output is a file
CONCURRENCY = (1, 16, 64)


def events_for(articles: list[Article]) -> list[EnrichedEvent]:
    events = []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("enriching (not timed)", total=len(articles))
        for n, article in enumerate(articles, 1):
            events.append(
                EnrichedEvent(
                    event_id=f"bench-{n}",
                    type="article.enriched",
                    article_id=article.id,
                    version=1,
                    correlation_id=f"bench-{n}",
                    source_event_id=f"bench-{n}",
                    enriched=enriched_article(article),
                )
            )
            bar.advance(task)
    return events


async def bulk_ours(
    redis_url: str, writer: MeiliWriter, events: list[EnrichedEvent], batch: int
) -> float:
    redis = connect(redis_url)
    indexer = Indexer(redis, writer, 0)
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        await indexer.handle([Delivery(f"{start + n}-0", e) for n, e in enumerate(chunk, 1)])
    elapsed = time.perf_counter() - started
    await redis.aclose()
    return len(events) / elapsed


async def bulk_raw(writer: MeiliWriter, docs: list[dict[str, Any]], batch: int) -> float:
    await writer.ensure_index(load_synonyms())
    started = time.perf_counter()
    for start in range(0, len(docs), batch):
        await writer.apply(docs[start : start + batch], [])
    return len(docs) / (time.perf_counter() - started)


def make_queries(articles: list[Article], count: int) -> list[str]:
    """Salient headline words of random articles; every third with و glued on, as readers type."""
    df = document_frequencies(articles)
    rng = random.Random(5)
    queries = []
    for article in rng.sample(articles, min(len(articles), count * 2)):
        q = salient_query(article, df, len(articles), words=rng.choice((1, 2, 3)))
        if q:
            queries.append(("و" + q) if len(queries) % 3 == 0 else q)
        if len(queries) == count:
            break
    return queries


def broad_queries(articles: list[Article], count: int = 20) -> list[str]:
    """Headline words of the most articles, as written: queries whose last pages are full."""
    df = document_frequencies(articles)
    spelling: dict[str, str] = {}
    for article in articles:
        for token in tokenize(article.headline):
            stem = term(token)
            if stem and len(token) >= 3 and not is_stopword(token) and not token.isdigit():
                spelling.setdefault(stem, token)
    return [spelling[stem] for stem in sorted(spelling, key=lambda s: -df[s])[:count]]


Ask = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


async def load(
    ask: Ask, client: httpx.AsyncClient, queries: list[str], concurrency: int, total: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    todo = iter([queries[n % len(queries)] for n in range(total)])

    async def worker() -> None:
        for q in todo:
            started = time.perf_counter()
            answer = await ask(client, q)
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, total / (time.perf_counter() - started)


@dataclass
class LatencyRow:
    engine: str
    clients: int
    latencies: list[float]
    qps: float
    # CPU milliseconds per query by process: the machine is shared and its two
    # cores are saturated from 16 clients on, so cost is steadier than latency.
    cpu_ms: dict[str, float]

    @property
    def server_cpu_ms(self) -> float:
        return sum(ms for name, ms in self.cpu_ms.items() if name in SERVER_PROCESSES)


SERVER_PROCESSES = ("meilisearch", "search")


async def latency_rows(
    service_url: str,
    meili_url: str,
    search_key: str,
    index: str,
    queries: list[str],
    per_level: int,
    cpu_now: Callable[[], dict[str, float]],
) -> list[LatencyRow]:
    page_body = {
        "limit": 10,
        "facets": ["category", "tag_facets", "source"],
        "attributesToRetrieve": RETRIEVED,
        "attributesToCrop": [f"body:{SNIPPET_WORDS}"],
        "attributesToHighlight": ["lead", "body"],
    }

    async def ours(client: httpx.AsyncClient, q: str) -> httpx.Response:
        return await client.get(f"{service_url}/v1/search", params={"q": q})

    async def raw_page(client: httpx.AsyncClient, q: str) -> httpx.Response:
        return await client.post(
            f"{meili_url}/indexes/{index}/search",
            json={"q": q, **page_body},
            headers={"Authorization": f"Bearer {search_key}"},
        )

    async def raw_bare(client: httpx.AsyncClient, q: str) -> httpx.Response:
        return await client.post(
            f"{meili_url}/indexes/{index}/search",
            json={"q": q, "limit": 10},
            headers={"Authorization": f"Bearer {search_key}"},
        )

    rows = []
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for ask in (ours, raw_page, raw_bare):  # warm caches and connections
            await load(ask, client, queries, 4, len(queries))
        for concurrency in CONCURRENCY:
            total = max(per_level, concurrency * 10)
            for name, ask in (
                ("khabar /v1/search", ours),
                ("raw Meilisearch, page request", raw_page),
                ("raw Meilisearch, bare q", raw_bare),
            ):
                before = cpu_now() | {"client": time.process_time()}
                latencies, qps = await load(ask, client, queries, concurrency, total)
                after = cpu_now() | {"client": time.process_time()}
                cpu_ms = {
                    process: 1000 * (after[process] - before[process]) / total
                    for process in before
                    if process in after
                }
                rows.append(LatencyRow(name, concurrency, latencies, qps, cpu_ms))
    return rows


def print_latency(rows: list[LatencyRow], articles: int) -> None:
    table = Table(title=f"Query latency over {articles} indexed articles")
    for column in (
        "engine",
        "clients",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "queries/s",
        "p50 vs raw page",
        "CPU ms/query: meili + search (client)",
        "CPU vs raw page",
    ):
        table.add_column(column, justify="right" if column != "engine" else "left")
    raw = {row.clients: row for row in rows if row.engine.endswith("page request")}
    for row in rows:
        p50 = percentile(row.latencies, 0.5)
        base = raw[row.clients]
        cpu = " + ".join(f"{row.cpu_ms.get(name, 0.0):.1f}" for name in SERVER_PROCESSES)
        table.add_row(
            row.engine,
            str(row.clients),
            f"{p50 * 1000:.1f}",
            f"{percentile(row.latencies, 0.95) * 1000:.1f}",
            f"{percentile(row.latencies, 0.99) * 1000:.1f}",
            f"{row.qps:.0f}",
            f"{p50 / percentile(base.latencies, 0.5):.2f}×",
            f"{cpu} ({row.cpu_ms.get('client', 0.0):.1f})",
            f"{row.server_cpu_ms / base.server_cpu_ms:.2f}×",
        )
    console.print(table)


DEPTH_CONCURRENCY = (1, 16)


async def depth_rows(
    service_url: str, queries: list[str], per_level: int, cpu_now: Callable[[], dict[str, float]]
) -> list[LatencyRow]:
    """Page 1 and the last page a reader may ask for, 10 hits a page."""
    deepest = SearchSettings().max_result_depth // 10

    def at_page(page: int) -> Ask:
        async def ask(client: httpx.AsyncClient, q: str) -> httpx.Response:
            return await client.get(f"{service_url}/v1/search", params={"q": q, "page": page})

        return ask

    rows = []
    async with httpx.AsyncClient(timeout=30) as client:
        await load(at_page(deepest), client, queries, 4, len(queries))  # warm
        for concurrency in DEPTH_CONCURRENCY:
            total = max(per_level, concurrency * 10)
            for name, ask in (("page 1", at_page(1)), (f"page {deepest}", at_page(deepest))):
                before = cpu_now()
                latencies, qps = await load(ask, client, queries, concurrency, total)
                after = cpu_now()
                cpu_ms = {
                    process: 1000 * (after[process] - before[process]) / total
                    for process in before
                    if process in after
                }
                rows.append(LatencyRow(name, concurrency, latencies, qps, cpu_ms))
    return rows


def print_depth(rows: list[LatencyRow]) -> None:
    table = Table(title="Deepest allowed page beside page 1 (/v1/search, 10 hits a page)")
    for column in (
        "page",
        "clients",
        "p50 ms",
        "p99 ms",
        "queries/s",
        "CPU ms/query: meili + search",
        "p50 vs page 1",
        "CPU vs page 1",
    ):
        table.add_column(column, justify="right" if column != "page" else "left")
    first = {row.clients: row for row in rows if row.engine == "page 1"}
    for row in rows:
        base = first[row.clients]
        cpu = " + ".join(f"{row.cpu_ms.get(name, 0.0):.1f}" for name in SERVER_PROCESSES)
        table.add_row(
            row.engine,
            str(row.clients),
            f"{percentile(row.latencies, 0.5) * 1000:.1f}",
            f"{percentile(row.latencies, 0.99) * 1000:.1f}",
            f"{row.qps:.0f}",
            cpu,
            f"{percentile(row.latencies, 0.5) / percentile(base.latencies, 0.5):.2f}×",
            f"{row.server_cpu_ms / base.server_cpu_ms:.2f}×",
        )
    console.print(table)


async def run(count: int, query_count: int, batch: int, per_level: int) -> None:
    articles = load_corpus_articles(count)
    events = events_for(articles)
    docs = [to_document(e.enriched).model_dump() for e in events if e.enriched]
    with running_system(
        services=("search",), extra_env={"KHABAR_RATE_LIMIT_PER_MINUTE": "0"}
    ) as system:
        live = MeiliWriter(system.meili_url, system.keys.index_key, system.index)
        with console.status(f"bulk indexing {len(events)} articles through the indexer"):
            ours = await bulk_ours(system.redis_url, live, events, batch)
        with console.status("raw Meilisearch bulk adds of the same documents"):
            raw = await bulk_raw(live.for_index(f"{system.index}_rawbulk"), docs, batch)
        bulk = Table(title=f"Bulk indexing, {len(events)} articles in batches of {batch}")
        bulk.add_column("engine")
        bulk.add_column("articles/s", justify="right")
        bulk.add_row("khabar indexer (guard, copies, task, re-check)", f"{ours:.0f}")
        bulk.add_row("raw Meilisearch add_documents", f"{raw:.0f}")
        bulk.add_row("ratio", f"{ours / raw:.2f}×")
        console.print(bulk)

        queries = make_queries(articles, query_count)
        with console.status("querying"):
            rows = await latency_rows(
                system.url("search"),
                system.meili_url,
                system.keys.search_key,
                system.index,
                queries,
                per_level,
                system.cpu_by_process,
            )
        print_latency(rows, len(docs))
        with console.status("deepest page beside page 1"):
            deep = await depth_rows(
                system.url("search"), broad_queries(articles), per_level, system.cpu_by_process
            )
        print_depth(deep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--per-level", type=int, default=600, help="requests per engine and concurrency level"
    )
    args = parser.parse_args()
    configure_logging(
        "bench", "console", "WARNING"
    )  # the in-process indexer's lines are noise here
    asyncio.run(run(args.articles, args.queries, args.batch, args.per_level))


if __name__ == "__main__":
    main()
