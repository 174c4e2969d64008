"""Hostile-reader benchmark (issue 19): well-behaved readers' latency beside hostile ones.

    .venv/bin/python -m bench.hostile --articles 1000 --seconds 20

Starts its own Redis, Meilisearch and the search service (as behind a load
balancer: `KHABAR_TRUSTED_PROXIES=127.0.0.1`, each reader's address in
X-Forwarded-For, as a proxy would append it), indexes real corpus articles
plus one planted article whose body is a 20,000-character `abcabc…` token,
then runs twice for `--seconds` each:

- quiet: 16 well-behaved readers, each asking a real query every 200 ms
  (300 a minute, half the default limit), pages 1 and 2;
- hostile: the same 16, beside 4 hostile readers asking as fast as they can:
  the planted token's query (`abc`), the deepest page a reader may ask for,
  a fresh spoofed X-Forwarded-For on every request (the proxy appends their
  real address after it), and a `/metrics` flood on the public port.

Prints the well-behaved readers' p50/p99 in both runs and their ratio (the
goal: p99 within 1.5× of the quiet run), and what the hostile readers got
(status counts). Timings vary with the machine; it is not a test.

One run (1,000 articles, 15 s each, a 2-core machine shared with five other
engineers' work, so absolute figures are high): quiet p50 776 ms, p99 2,634 ms;
beside the hostile readers p50 1,166 ms, p99 3,168 ms: p99 1.20× the quiet
run. The hostile readers got 42 answers and 3,175 404s (`/metrics` is not on
the public port).
"""

import argparse
import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from bench.harness import KeepAliveClient, percentile, running_system
from bench.relevance import enriched_article, load_corpus_articles
from bench.search import make_queries
from khabar_search.documents import to_document
from khabar_search.meili import MeiliWriter
from khabar_search.settings import SearchSettings
from khabar_search.synonyms import load_synonyms

console = Console(width=120)
WELL_BEHAVED = 16
PACE_S = 0.2
PLANTED = "abc" * 6667


async def index(system_meili: str, index_key: str, index_uid: str, count: int) -> list[str]:
    articles = load_corpus_articles(count)
    docs = [to_document(enriched_article(a)).model_dump() for a in articles]
    planted = dict(docs[0], id="planted-token", body=PLANTED, headline="abc", lead="abc")
    writer = MeiliWriter(system_meili, index_key, index_uid)
    await writer.ensure_index(load_synonyms())
    for start in range(0, len(docs), 500):
        await writer.apply(docs[start : start + 500], [])
    await writer.apply([planted], [])
    return make_queries(articles, 100)


async def reader(
    port: int,
    address: str,
    ask: Callable[[KeepAliveClient, int], Awaitable[int]],
    until: float,
    pace_s: float,
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    client = await KeepAliveClient.open("127.0.0.1", port, {"X-Forwarded-For": address})
    n = 0
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            statuses[await ask(client, n)] += 1
            latencies.append(time.perf_counter() - started)
            n += 1
            if pace_s:
                await asyncio.sleep(max(0.0, pace_s - (time.perf_counter() - started)))
    finally:
        client.close()


def well_behaved(
    queries: list[str], offset: int
) -> Callable[[KeepAliveClient, int], Awaitable[int]]:
    async def ask(client: KeepAliveClient, n: int) -> int:
        q = queries[(offset + n * 7) % len(queries)]
        return (await client.get("/v1/search?" + urlencode({"q": q, "page": 1 + n % 2})))[0]

    return ask


def hostile_paths() -> dict[str, str]:
    """What each of three hostile readers asks again and again (the fourth spoofs: `spoofing`)."""
    deepest = SearchSettings().max_result_depth // 10
    return {
        "planted token": "/v1/search?q=abc",
        "deepest page": "/v1/search?" + urlencode({"q": "الرئيس", "page": deepest}),
        "metrics flood": "/metrics",
    }


def asking(path: str) -> Callable[[KeepAliveClient, int], Awaitable[int]]:
    async def ask(client: KeepAliveClient, n: int) -> int:
        return (await client.get(path))[0]

    return ask


async def spoofing(port: int, until: float, statuses: Counter[int]) -> None:
    """A reader that claims a new address on every request (a new connection each time)."""
    n = 0
    while time.monotonic() < until:
        client = await KeepAliveClient.open(
            "127.0.0.1", port, {"X-Forwarded-For": f"203.0.113.{n % 250}, 10.9.9.2"}
        )
        try:
            statuses[(await client.get("/v1/search?" + urlencode({"q": "مصر"})))[0]] += 1
        finally:
            client.close()
        n += 1


async def run_once(
    port: int, queries: list[str], seconds: float, with_hostile: bool
) -> tuple[list[float], Counter[int], Counter[int]]:
    latencies: list[float] = []
    good: Counter[int] = Counter()
    bad: Counter[int] = Counter()
    until = time.monotonic() + seconds
    tasks = [
        reader(
            port, f"198.51.100.{n}", well_behaved(queries, n * 13), until, PACE_S, latencies, good
        )
        for n in range(WELL_BEHAVED)
    ]
    if with_hostile:
        for n, path in enumerate(hostile_paths().values()):
            tasks.append(reader(port, f"10.9.9.{n + 10}", asking(path), until, 0.0, [], bad))
        tasks.append(spoofing(port, until, bad))
    await asyncio.gather(*tasks)
    return latencies, good, bad


async def run(count: int, seconds: float) -> None:
    env = {"KHABAR_TRUSTED_PROXIES": "127.0.0.1"}
    with running_system(services=("search",), extra_env=env) as system:
        with console.status(f"indexing {count} articles and the planted token"):
            queries = await index(system.meili_url, system.keys.index_key, system.index, count)
        port = system.ports["search"]
        random.Random(19).shuffle(queries)
        await run_once(port, queries, 3, False)  # warm
        rows = {}
        for name, with_hostile in (("quiet", False), ("beside 4 hostile", True)):
            with console.status(f"{name}: {seconds:.0f} s"):
                rows[name] = await run_once(port, queries, seconds, with_hostile)
    table = Table(
        title=f"{WELL_BEHAVED} well-behaved readers' /v1/search latency "
        f"({count} articles, {seconds:.0f} s each)"
    )
    for column in (
        "run",
        "requests",
        "p50 ms",
        "p99 ms",
        "p99 vs quiet",
        "their statuses",
        "hostile statuses",
    ):
        table.add_column(column, justify="left" if column == "run" else "right")
    quiet_p99 = percentile(rows["quiet"][0], 0.99)
    for name, (latencies, good, bad) in rows.items():
        p99 = percentile(latencies, 0.99)
        table.add_row(
            name,
            str(len(latencies)),
            f"{percentile(latencies, 0.5) * 1000:.1f}",
            f"{p99 * 1000:.1f}",
            f"{p99 / quiet_p99:.2f}×",
            " ".join(f"{k}:{v}" for k, v in sorted(good.items())),
            " ".join(f"{k}:{v}" for k, v in sorted(bad.items())) or "-",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(run(args.articles, args.seconds))


if __name__ == "__main__":
    main()
