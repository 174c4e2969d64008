"""Pipeline benchmark (issues 2, 24): throughput, CPU per article and publish-to-visible latency.

    .venv/bin/python -m bench.pipeline --articles 2000 --latency-articles 200 [--search-nodes 2]

Starts its own Redis, Meilisearch, the four services and the edge (render
purges it), then measures, in the same run and on the same real articles:

- articles/s from the first POST until every article is searchable (in the
  Meilisearch index) and rendered (its fragment stored), beside raw
  Meilisearch bulk-adding the same enriched documents (the very documents
  search indexed, read back from the index) to a fresh index with the same
  settings; and where the machine's CPU went, per article and process
  (ingest, enrich, search, render, Redis, Meilisearch, the edge), in both;
- the same CPU per article in the pipeline as it runs: a steady 10
  articles/s, small batches, every process's idle work included, beside raw
  Meilisearch adding the same enriched documents one per task at that rate;
  the goal (issue 24) is the Python services together spending no more than
  Meilisearch spends indexing, and Redis within half of that;
- with several search nodes, like with like: every node has its own indexer
  (search) and its own Meilisearch, while raw Meilisearch runs on node 1
  alone. The tables show each node's indexer and Meilisearch under their
  kind's row, and two ratios for the Python services that agree with one
  node: per node (ingest, enrich, render and one node's share of search,
  against raw Meilisearch on one node: the goal's figure) and all indexers
  against raw Meilisearch times the nodes. Until session 15 the ratio counted
  both indexers against one raw node;
- where Redis's steady time goes, by command (its own `INFO commandstats`:
  a script's inner commands are counted both in their own row and in the
  script's);
- publish-to-searchable and publish-to-rendered latency (p50/p95/p99) at that
  steady rate (from each consumer's own record of when it applied the
  article; with several search nodes, each node's), beside raw Meilisearch
  finishing the task of one added document: a one-document task costs more
  the bigger the index, so both add to an index of the same size;
- where publish-to-searchable goes, stage by stage: publish to enriched,
  enriched to searchable (search reading, claiming, sending, waiting on the
  task, acking), and within that each node's Meilisearch tasks of the steady
  phase, from their own record: enqueued to started (waiting behind another
  batch) and started to finished (indexing).

Prints a table; it is not a test.

Session 12 (render-cpu-s12), steady render ms per article, base (main 1690a25) and branch
alternating, 2 nodes, 400 + 200 articles, load 2.3-8.3: parts-only refresh of links
(b652525) 19.5, 16.4, 18.1 against base 17.8, 17.4, 16.6; with put_many's parse cache
(95a17dc) 16.9, 17.7 against 19.7, 17.8. Python / raw Meilisearch: 1.07, 0.98, 1.11,
1.17, 1.31 against 1.04, 1.01, 1.14, 1.27, 1.24. Within the spread from run to run: enrich
refreshes an older list only when the new story enters what it shows (see-also, or a list
not full yet), so most refreshes change both parts; what a refresh saves is the edge's
purge of `article:<id>` (cards, listings, home, other related blocks), which this bench,
with no readers, does not see.

Session 13 (search-pipe-s13), base (main f86852d) and branch alternating, 2 nodes, 400 +
200 articles, load 9.5-20.9 (CPU pressure ~98 %), 11 pairs, medians: publish -> searchable
node 1 p50/p99 1021/2020 ms with the indexer's default pipelining (next batch sent once
Meilisearch is done with one, the last settled and acked meanwhile) against 1135/1898 base;
node 2 985/1750 against 1121/1802; lower p50 in 7 of 11 pairs. Search CPU 9.6 against 8.6
ms per article, Meilisearch 34.0 against 29.1 (shorter cycles: more, smaller tasks); Python
/ raw Meilisearch 1.24 against 1.20. Sending ahead (KHABAR_INDEX_SEND_AHEAD, 3 runs):
1481/3024, search 10.2. Raw Meilisearch's own one-document add -> visible was 212-2666 ms
p50 and 525-7561 ms p99 in these runs: at this load the 500 ms p99 goal is out of reach.

Session 14 (cpu-s14), base (main b1ec4b1) and branch alternating, 2 nodes, 400 + 200 articles,
load 9.2-27.2. Search ms per article with refreshes acked unread and the first task clock
(62d4f1a, an average's first ask): 4.7, 4.6, 5.3 against 7.4, 5.8, 6.5 base. With the final
clock (44d2092, first ask at 0.6 of the shortest recent task, 50 ms steps), 5 pairs, medians:
search 6.4 against 7.1; publish -> searchable node 1 p50/p99 1189/2227 against 1519/2424;
Python / raw Meilisearch 1.30 against 1.41 (0.97-1.86 over all runs); Redis / raw 0.26
against 0.27. Depth 2 (KHABAR_INDEX_PIPELINE_DEPTH): node 1 p50 1735 and 1795 base, 1904
and 2055 branch, against 1245-1655 at depth 1 beside them: no gain at this load. Raw
Meilisearch's own add -> visible: p50 189-1240, p99 680-2983 ms.

Session 15 (cpu-render-s15), base (main 7c5c233) and branch alternating, 2 nodes, 400 + 200
articles, load 5.3-8.5, 3 pairs (branch ae91521): steady render ms per article 14.0, 12.1,
12.1 against 12.8, 14.6, 14.3 base; Python / raw Meilisearch 0.96, 0.90, 0.84 against 0.93,
1.07, 0.99; bulk render 3.7, 3.6, 3.3 against 3.1, 3.9, 3.8. Render's steady figure moves
with its batch size (3.2-3.9 events a batch here): a render that handles a batch sooner reads
smaller ones. A replay of one run's enriched stream into one render process at the same
timing (same batches in both) measured it better, load 1.6-2.6: steady 13.45, 14.35 against
15.95, 16.25; bulk 3.45, 3.53 against 3.48, 3.65 (edge purges without httpx, fragments stored
in the record_shows script, shells kept, a batch's purge reads in one round trip).

Session 15 (cpu-rest-s15), base (main 7c5c233) and branch alternating, 2 nodes, 400 + 200
articles, load 5.4-19.4, 5 pairs, medians (per node: ingest, enrich, render and one node's
share of search, against raw Meilisearch on one node, see above): steady Python per node 29.2
ms against 29.3 base, 0.87x against 0.80x raw (0.76-0.93 branch, 0.78-0.90 base: the goal
met in every run of both); search, both indexers, 8.8 against 8.2 (7.1-11.3 over all runs:
search's CPU goes by its batches, and at 5.2 events a batch it spent 10.5, at 7.1 it spent
8.8); enrich 8.1 and 8.1; Redis / raw 0.20x and 0.19x. Bulk: 4.11x against 4.17x raw, far
from the goal (raw bulk indexing is 2.0-2.5 ms an article). One node, one pair: steady 0.77x
against 0.79x, bulk 3.02x against 3.34x. The branch's two cuts (no worker thread per batch,
no XINFO STREAM per node check) are below this bench's spread. The steady Redis table:
Redis reads 160-170 KiB and writes 510-590 KiB per article (every refresh event carries its
whole article to render and to every search node), its command time mostly enrich's
scripts (EVAL 10.8 calls, 1.8-2.6 ms of 4.3-5.9). Search handles 3.1 events per article
(two of three are refreshes it skips).
With the services' Redis connection sending each command in the caller's task (82f82fe;
redis-py's asyncio.wait_for made a task of every write), pairs q1-q2 (2 nodes, load 5.2-8.3):
steady Python per node 24.6 and 25.5 ms against 25.8 and 27.6 base (0.71x and 0.71x against
0.85x and 0.79x raw); enrich 7.2, 7.2 against 7.6, 7.7; search 6.7, 6.8 against 7.7, 8.0;
Redis 5.9, 5.9 against 6.0, 6.5; bulk 3.67x, 3.59x against 3.81x, 4.26x. Pair q3 on a
quiet machine (load 1.1-2.4): 0.88x against 0.96x; every service lower (ingest 2.1/2.3,
enrich 7.5/7.7, search 12.9/13.6, render 15.8/16.2, Redis 7.3/7.6); bulk 7.9 against 8.3 ms
(3.95x against 3.61x: raw was 2.0 against 2.3). Quiet, publish -> searchable p50 is ~77 ms,
batches are small, and search (both nodes) spends 13 ms an article against 7-8 at load 5-8:
the steady goal's margin is thinnest on a quiet machine.
"""

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

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
    applied_key,
    search_group,
)

T = TypeVar("T")
POLL_S = 0.005


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


RAW_INDEX = "raw_enriched"


async def indexed_documents(system: BenchSystem, ids: list[str] | None = None) -> list[dict]:
    """The documents search indexed (all, or those of `ids`), read back from the live index."""
    headers = {"Authorization": f"Bearer {system.master_key}"}
    found: list[dict] = []
    async with httpx.AsyncClient(base_url=system.meili_url, headers=headers, timeout=60) as meili:
        while True:
            body: dict = {"offset": len(found), "limit": 1000}
            if ids is not None:
                body["filter"] = f"id IN [{', '.join(orjson.dumps(i).decode() for i in ids)}]"
            page = (await meili.post(f"/indexes/{system.index}/documents/fetch", json=body)).json()
            found += page["results"]
            if len(found) >= page["total"]:
                return found


async def raw_bulk(system: BenchSystem, documents: list[dict], batch: int = 500) -> float:
    """Raw Meilisearch: the same enriched documents into a fresh index with the same settings."""
    headers = {"Authorization": f"Bearer {system.master_key}"}
    async with httpx.AsyncClient(base_url=system.meili_url, headers=headers, timeout=60) as meili:
        settings = (await meili.get(f"/indexes/{system.index}/settings")).json()
        created = await meili.post("/indexes", json={"uid": RAW_INDEX, "primaryKey": "id"})
        await wait_task(meili, created.json())
        await wait_task(
            meili, (await meili.patch(f"/indexes/{RAW_INDEX}/settings", json=settings)).json()
        )
        started = time.perf_counter()
        tasks = [
            (
                await meili.post(f"/indexes/{RAW_INDEX}/documents", json=documents[i : i + batch])
            ).json()
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
    groups = (ENRICH_GROUP, *(search_group(node) for node in system.search_nodes), RENDER_GROUP)
    applied = {group: await applied_latencies(redis, group, sent_at) for group in groups}
    await redis.aclose()
    latencies = {group: list(by_id.values()) for group, by_id in applied.items()}
    for node in system.search_nodes:  # per article: from enrich's append to the node's ack
        searched = applied[search_group(node)]
        latencies[f"enriched→{node}"] = [
            searched[i] - at for i, at in applied[ENRICH_GROUP].items() if i in searched
        ]
    return latencies


async def applied_latencies(
    redis: aioredis.Redis, group: str, sent_at: dict[str, float], timeout_s: float = 60
) -> dict[str, float]:
    """Milliseconds from each POST until `group` applied version 1, by article (waits for
    stragglers)."""
    deadline = time.perf_counter() + timeout_s
    applied: dict[str, float] = {}
    while len(applied) < len(sent_at) and time.perf_counter() < deadline:
        for article_id in sent_at.keys() - applied.keys():
            when = await redis.hget(applied_key(group, article_id), "1")
            if when:
                applied[article_id] = datetime.fromisoformat(when.decode()).timestamp()
        await asyncio.sleep(0.2)
    return {i: (applied[i] - sent_at[i]) * 1000 for i in applied}


async def batch_counts(system: BenchSystem) -> dict[str, tuple[float, float]]:
    """Each service process's (events, batches) handed to its handlers so far, from its
    `/metrics` (khabar_batch_size_events): how big its batches were between two reads."""
    counts: dict[str, tuple[float, float]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for managed in system.group.processes:
            port = managed.ops_port or system.ports.get(managed.name)
            if kind(managed.name) not in PYTHON_SERVICES or not port:
                continue
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            events = batches = 0.0
            for line in text.splitlines():
                if line.startswith("khabar_batch_size_events_sum{") and "dead" not in line:
                    events += float(line.rsplit(" ", 1)[1])
                elif line.startswith("khabar_batch_size_events_count{") and "dead" not in line:
                    batches += float(line.rsplit(" ", 1)[1])
            counts[managed.name] = (events, batches)
    return counts


async def meili_task_stages(meili_url: str, master_key: str, since: str) -> dict[str, list[float]]:
    """Milliseconds each document task of the index spent queued and indexing, from Meilisearch's
    own record of the tasks enqueued after `since` (ISO time)."""
    headers = {"Authorization": f"Bearer {master_key}"}
    params = {
        "indexUids": "articles",
        "types": "documentAdditionOrUpdate,documentDeletion",
        "afterEnqueuedAt": since,
        "limit": 1000,
    }
    async with httpx.AsyncClient(base_url=meili_url, headers=headers, timeout=30) as meili:
        tasks = (await meili.get("/tasks", params=params)).json()["results"]
    stages: dict[str, list[float]] = {"queued": [], "indexing": [], "documents": []}
    for task in tasks:
        if task["status"] != "succeeded":
            continue
        enqueued, started, finished = (
            datetime.fromisoformat(task[k]).timestamp()
            for k in ("enqueuedAt", "startedAt", "finishedAt")
        )
        stages["queued"].append((started - enqueued) * 1000)
        stages["indexing"].append((finished - started) * 1000)
        stages["documents"].append(float(task["details"].get("receivedDocuments", 0) or 0))
    return stages


async def raw_single_latency(
    system: BenchSystem, documents: list[dict], rate: float
) -> list[float]:
    """Raw Meilisearch: one enriched document per task at `rate`, into the raw index."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {system.master_key}"}
    async with httpx.AsyncClient(base_url=system.meili_url, headers=headers, timeout=10) as meili:

        async def add(document: dict) -> None:
            sent = time.perf_counter()
            task = (await meili.post(f"/indexes/{RAW_INDEX}/documents", json=[document])).json()
            await wait_task(meili, task)
            latencies.append((time.perf_counter() - sent) * 1000)

        await steady(documents, rate, add)
    return latencies


async def steady(items: list[T], rate: float, action: Callable[[T], Awaitable[None]]) -> None:
    started = time.perf_counter()
    tasks = []
    for i, item in enumerate(items):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(action(item)))
    await asyncio.gather(*tasks)


Cpu = dict[str, float]
IDLE_S = 10.0
PYTHON_SERVICES = ("ingest", "enrich", "search", "render")
# Kinds with a process per search node.
NODE_KINDS = ("search", "meilisearch")


def kind(process: str) -> str:
    """The row a process counts in: `search-2` is search, `meilisearch-2` Meilisearch."""
    return (
        process.split("-")[0]
        if process.split("-")[0] in (*PYTHON_SERVICES, "meilisearch")
        else process
    )


def per_process(start: Cpu, end: Cpu, articles: float) -> dict[str, float]:
    """CPU ms per article of each process (each node's search and Meilisearch apart)."""
    return {name: (end[name] - start[name]) * 1000 / articles for name in start if name in end}


def raw_meili_ms(start: Cpu, end: Cpu, articles: int) -> float:
    """Node 1's Meilisearch (the one that holds the raw index), CPU ms per article."""
    return (end["meilisearch"] - start["meilisearch"]) * 1000 / articles


NET = "(network bytes)"


async def redis_commands(redis_url: str) -> dict[str, tuple[float, float]]:
    """Redis's own count of each command so far: name -> (calls, microseconds)."""
    redis = aioredis.from_url(redis_url)
    try:
        stats = await redis.info("commandstats")
        net = await redis.info("stats")
    finally:
        await redis.aclose()
    found = {
        name.removeprefix("cmdstat_"): (float(row["calls"]), float(row["usec"]))
        for name, row in stats.items()
    }
    # Bytes Redis read and wrote (not commands: shown under the table, in KiB per article).
    found[NET] = (float(net["total_net_input_bytes"]), float(net["total_net_output_bytes"]))
    return found


def redis_table(
    start: dict[str, tuple[float, float]], end: dict[str, tuple[float, float]], articles: int
) -> Table:
    """Where Redis's CPU went in a phase, per article, by command (its own record: time in
    the command, not reading and writing the connections), the costliest first."""
    rows = []
    for name, (calls, usec) in end.items():
        if name == NET:
            continue
        before = start.get(name, (0.0, 0.0))
        rows.append((name, (calls - before[0]) / articles, (usec - before[1]) / 1000 / articles))
    rows.sort(key=lambda row: -row[2])
    table = Table(title="Redis, steady phase, per article: time in commands by command")
    for column in ("command", "calls", "ms"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, calls, ms in rows[:10]:
        table.add_row(name, f"{calls:.1f}", f"{ms:.2f}")
    table.add_row(
        "all commands", f"{sum(r[1] for r in rows):.1f}", f"{sum(r[2] for r in rows):.2f}"
    )
    read = (end[NET][0] - start[NET][0]) / 1024 / articles
    written = (end[NET][1] - start[NET][1]) / 1024 / articles
    table.caption = f"Redis read {read:.0f} KiB and wrote {written:.0f} KiB per article"
    return table


def node_label(process: str) -> str:
    """`search` is node 1's indexer and `meilisearch` node 1 (`search-2`, node 2's)."""
    return f"{process}-1" if process in ("search", "meilisearch") else process


def budget(pipeline: dict[str, float], raw_meili: float, nodes: int) -> dict[str, float]:
    """The issue's ratios, like with like.

    Every node indexes every article: with `nodes` nodes the pipeline runs
    that many indexers (search) and that many Meilisearch servers, while raw
    Meilisearch is measured on one node. So the Python services are compared
    two ways that agree with one node: all of them (every indexer) against
    raw Meilisearch times the nodes; and per node: ingest, enrich, render and
    one node's share of search against raw Meilisearch on one node (what one
    more node adds is one indexer against one Meilisearch). Redis is compared
    with raw Meilisearch on one node (the strict figure) and times the nodes.
    """
    python = sum(pipeline.get(name, 0.0) for name in PYTHON_SERVICES)
    one_node = python - pipeline.get("search", 0.0) * (nodes - 1) / nodes
    redis = pipeline.get("redis", 0.0)
    return {
        "python_all_nodes": python / (raw_meili * nodes),
        "python_per_node": one_node / raw_meili,
        "python_one_node_ms": one_node,
        "redis_one_node": redis / raw_meili,
        "redis_all_nodes": redis / (raw_meili * nodes),
        "meili_per_node": pipeline.get("meilisearch", 0.0) / nodes / raw_meili,
    }


def cpu_table(
    title: str,
    processes: dict[str, float],
    raw_meili: float,
    nodes: int = 1,
    idle: dict[str, float] | None = None,
) -> Table:
    """Where the two cores went, per article: the pipeline's processes beside raw Meilisearch
    (on one node) indexing the same enriched documents; with several nodes each node's
    indexer and Meilisearch under their kind's row; then the issue's ratios (`budget`).
    `idle`: the share of each process's figure it also spends with no article arriving
    (polls, checks), by process."""
    pipeline: dict[str, float] = {}
    for name, ms in processes.items():
        pipeline[kind(name)] = pipeline.get(kind(name), 0.0) + ms
    idle_kinds: dict[str, float] = {}
    for name, ms in (idle or {}).items():
        idle_kinds[kind(name)] = idle_kinds.get(kind(name), 0.0) + ms
    table = Table(title=title)
    columns = ["process", "pipeline", "raw Meilisearch, one node (same enriched documents)"]
    for column in columns + (["of which idle work"] if idle else []):
        table.add_column(column, justify="left" if column == "process" else "right")
    for name, ms in pipeline.items():
        raw = f"{raw_meili:.1f}" if name == "meilisearch" else ""
        idle_cell = [f"{idle_kinds.get(name, 0.0):.1f}"] if idle else []
        table.add_row(
            name + (" (all nodes)" if nodes > 1 and name in NODE_KINDS else ""),
            f"{ms:.1f}",
            raw,
            *idle_cell,
        )
        if nodes > 1 and name in NODE_KINDS:
            for process, own in processes.items():
                if kind(process) == name:
                    idle_own = [f"{(idle or {}).get(process, 0.0):.1f}"] if idle else []
                    table.add_row(f"  {node_label(process)}", f"{own:.1f}", "", *idle_own)
    python = sum(pipeline.get(name, 0.0) for name in PYTHON_SERVICES)
    idle_python = [f"{sum(idle_kinds.get(n, 0.0) for n in PYTHON_SERVICES):.1f}"] if idle else []
    ratios = budget(pipeline, raw_meili, nodes)
    table.add_row(
        "Python services together",
        f"{python:.1f}",
        f"{raw_meili * nodes:.1f}" if nodes > 1 else "",
        *idle_python,
    )
    if nodes > 1:
        table.add_row(
            "Python services, one node's share of search",
            f"{ratios['python_one_node_ms']:.1f}",
            f"{raw_meili:.1f}",
            *([""] if idle else []),
        )
    table.add_row("total", f"{sum(pipeline.values()):.1f}", f"{raw_meili * nodes:.1f}")
    if nodes > 1:
        table.caption = (
            f"Python services / raw Meilisearch, per node: {ratios['python_per_node']:.2f}× "
            f"(goal ≤ 1); all {nodes} indexers / raw × {nodes}: "
            f"{ratios['python_all_nodes']:.2f}×; Redis / raw (one node): "
            f"{ratios['redis_one_node']:.2f}× (goal ≤ 0.5), / raw × {nodes}: "
            f"{ratios['redis_all_nodes']:.2f}×; Meilisearch in the pipeline per node / raw: "
            f"{ratios['meili_per_node']:.2f}×"
        )
    else:
        table.caption = (
            f"Python services / raw Meilisearch: {ratios['python_per_node']:.2f}× (goal ≤ 1); "
            f"Redis / raw Meilisearch: {ratios['redis_one_node']:.2f}× (goal ≤ 0.5); "
            f"Meilisearch in the pipeline / raw: {ratios['meili_per_node']:.2f}×"
        )
    return table


def latency_row(name: str, values: list[float]) -> list[str]:
    return [name, str(len(values)), *(f"{percentile(values, p):.0f}" for p in (0.5, 0.95, 0.99))]


async def run(
    articles_count: int, latency_count: int, rate: float, batch_size: int | None, nodes: int
) -> None:
    console = Console(width=140)
    articles = load_articles(articles_count + latency_count)
    bulk_set = articles[:articles_count]
    latency_set = articles[articles_count : articles_count + latency_count]
    console.print(f"{len(articles)} real articles loaded; starting servers and services…")
    extra_env = {"KHABAR_BATCH_SIZE": str(batch_size)} if batch_size else {}
    with running_system(extra_env=extra_env, search_nodes=nodes, edge=True) as system:
        client = {"(benchmark client)": time.process_time}
        before = system.cpu_by_process() | {k: f() for k, f in client.items()}
        pipeline_rate = await pipeline_throughput(system, bulk_set)
        # Refreshes of older articles' related links trail the bulk load.
        await wait_until(lambda: streams_drained(system))
        middle = system.cpu_by_process() | {k: f() for k, f in client.items()}
        documents = await indexed_documents(system)
        raw_start = system.cpu_by_process()
        raw_rate = await raw_bulk(system, documents)
        raw_end = system.cpu_by_process()
        # What every process spends with nothing arriving: polls, health and lag checks.
        idle_start = system.cpu_by_process()
        await asyncio.sleep(IDLE_S)
        idle_end = system.cpu_by_process()

        steady_started = time.perf_counter()
        steady_since = datetime.now(UTC).isoformat()
        batches_start = await batch_counts(system)
        commands_start = await redis_commands(system.redis_url)
        steady_start = system.cpu_by_process() | {k: f() for k, f in client.items()}
        latencies = await steady_latency(system, latency_set, rate)
        await wait_until(lambda: streams_drained(system))
        steady_end = system.cpu_by_process() | {k: f() for k, f in client.items()}
        commands_end = await redis_commands(system.redis_url)
        batches_end = await batch_counts(system)
        steady_s = time.perf_counter() - steady_started
        task_stages = {
            node: await meili_task_stages(url, system.master_key, steady_since)
            for node, url in sorted(system.search_nodes.items())
        }
        fresh = await indexed_documents(system, [a.id for a in latency_set])
        # Into the raw index of the same bulk documents, under other ids: the same index size.
        raw_fresh = [{**d, "id": f"raw-{d['id']}"} for d in fresh]
        raw_steady_start = system.cpu_by_process()
        raw_latency = await raw_single_latency(system, raw_fresh, rate)
        raw_steady_end = system.cpu_by_process()

    table = Table(title=f"Throughput: {len(bulk_set)} articles, {nodes} search node(s)")
    for column in ("path", "articles/s", "vs raw Meilisearch"):
        table.add_column(column)
    table.add_row(
        "whole pipeline (ingest → searchable and rendered)",
        f"{pipeline_rate:.0f}",
        f"{pipeline_rate / raw_rate:.2f}×",
    )
    table.add_row("raw Meilisearch bulk add (same enriched documents)", f"{raw_rate:.0f}", "1.00×")
    console.print(table)
    bulk_raw = raw_meili_ms(raw_start, raw_end, len(documents))
    console.print(
        cpu_table(
            f"CPU per article (ms), bulk: {len(bulk_set)} articles posted by 16 clients",
            per_process(before, middle, len(bulk_set)),
            bulk_raw,
            nodes,
        )
    )
    steady_raw = raw_meili_ms(raw_steady_start, raw_steady_end, len(raw_fresh))
    console.print(
        cpu_table(
            f"CPU per article (ms), steady: {len(latency_set)} articles at {rate:g}/s "
            "(idle work included)",
            per_process(steady_start, steady_end, len(latency_set)),
            steady_raw,
            nodes,
            # Idle CPU per second over the steady phase's seconds, per article.
            per_process(idle_start, idle_end, IDLE_S * len(latency_set) / steady_s),
        )
    )
    console.print(redis_table(commands_start, commands_end, len(latency_set)))
    sizes = []
    for name, (events, batches) in sorted(batches_end.items()):
        before = batches_start.get(name, (0.0, 0.0))
        handled, count = events - before[0], batches - before[1]
        per = handled / len(latency_set)
        sizes.append(f"{name} {handled / count:.1f} ({per:.1f})" if count else f"{name} -")
    # Small batches cost more per article: a loaded run batches more (compare runs with this).
    # In brackets, events handled per article: refreshes of older articles' links count too.
    console.print("Events per batch (per article), steady phase: " + ", ".join(sizes))
    latency = Table(title=f"Latency at {rate:g} articles/s (ms)")
    for column in ("path", "n", "p50", "p95", "p99"):
        latency.add_column(column)
    latency.add_row(*latency_row("publish → enriched", latencies[ENRICH_GROUP]))
    for node in sorted(system.search_nodes):
        latency.add_row(
            *latency_row(f"publish → searchable, node {node}", latencies[search_group(node)])
        )
    latency.add_row(*latency_row("publish → rendered", latencies[RENDER_GROUP]))
    latency.add_row(*latency_row("raw Meilisearch add → visible", raw_latency))
    console.print(latency)
    console.print(stage_table(rate, latencies, task_stages))
    console.print("2 cores shared with other work: figures are rough; compare within one run only.")


def stage_table(
    rate: float, latencies: dict[str, list[float]], task_stages: dict[str, dict[str, list[float]]]
) -> Table:
    """Publish → searchable by stage: the pipeline's part and each node's Meilisearch tasks."""
    table = Table(title=f"Where publish → searchable goes at {rate:g} articles/s (ms)")
    for column in ("stage", "n", "p50", "p95", "p99"):
        table.add_column(column)
    table.add_row(*latency_row("publish → enriched (ingest, enrich)", latencies[ENRICH_GROUP]))
    for node, stages in task_stages.items():
        table.add_row(
            *latency_row(f"node {node}: enriched → searchable", latencies[f"enriched→{node}"])
        )
        table.add_row(*latency_row(f"node {node}: task enqueued → started", stages["queued"]))
        table.add_row(*latency_row(f"node {node}: task started → finished", stages["indexing"]))
        sizes = stages["documents"]
        if sizes:
            table.add_row(
                f"node {node}: documents per task",
                str(len(sizes)),
                *(f"{percentile(sizes, p):.0f}" for p in (0.5, 0.95, 0.99)),
            )
    table.caption = (
        "Enriched → searchable: from enrich's ack to the node's, per article; what the task rows"
        " do not account for is search's own (read, claim, send, poll, ack)."
    )
    return table


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
    parser.add_argument(
        "--search-nodes", type=int, default=1, help="Meilisearch nodes, each indexed"
    )
    args = parser.parse_args()
    asyncio.run(
        run(args.articles, args.latency_articles, args.rate, args.batch_size, args.search_nodes)
    )


if __name__ == "__main__":
    main()
