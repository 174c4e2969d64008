"""Ingest benchmark (issue 3): articles/s through ingest beside raw redis-py XADD.

    .venv/bin/python -m bench.ingest --articles 2000

Starts its own Redis and one ingest process, then measures, in the same run
and on the same real corpus articles:

- single-article `POST /v1/articles` per second with 1, 8 and 32 concurrent
  clients (each a keep-alive connection of `harness.KeepAliveClient`: httpx's
  own CPU, on the same two cores, held ingest back), beside raw redis-py XADD
  of the same events one at a time with the same concurrency;
- batch import (`POST /v1/articles/batch`, 200 per batch, three batches in
  flight, as `khabar import` sends them, each on a `KeepAliveClient`
  connection) beside raw XADD of the same events
  pipelined 200 at a time, three pipelines in flight: both sides get the same
  shape of client (one pipeline at a time left Redis idle while redis-py
  packed the next).

Every ingest POST is a real new version (a fresh uri per measurement), so
each one validates, versions and appends. Both sides start from encoded
bytes: the raw events and ingest's request bodies are made before the clock
starts (the load generator shares the machine's two cores with the server).

Beside each rate it prints the CPU time per article of the load generator
(this process), of the ingest process and of redis-server (from /proc), which
is steadier than wall time on a shared machine, and the ratio of the two
sides' whole CPU: on an idle machine the three processes run side by side
and the wall ratio is lower than that one; on a busy machine, where they
take turns on whatever core is free, the wall ratio drifts towards it.
`--signed` adds, beside each single-POST row, the same POSTs to the
Superdesk push route (`/v1/push/superdesk`) signed with
`x-superdesk-signature` instead of a bearer key (issue 23): the cost of
checking the HMAC-SHA1 of each body. `--repeat N` measures each row N
times (ingest, then raw, back to back) and prints medians, with the range
of the ratio: on a shared machine a
single run scatters. Prints a table; it is not a test.
"""

import argparse
import asyncio
import hashlib
import hmac
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import orjson
import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from bench.harness import KeepAliveClient, cpu_seconds, load_articles
from khabar_cli.in_flight import IN_FLIGHT, batch_uris, send_in_order
from khabar_dev.processes import APPENDFSYNC, ProcessGroup, free_port, start_redis, start_service
from khabar_ingest.formats.ninjs import InvalidArticle, parse_ninjs
from khabar_ingest.formats.writer import article_to_ninjs
from khabar_shared.events import Article, ArticleEvent, Entry, encode_event

BATCH = 200
RAW_STREAM = "bench:{articles}:raw-xadd"


def acceptable_articles(count: int) -> list[Article]:
    """Real corpus articles that ingest accepts (a few corpus lines have no body)."""
    found = []
    for article in load_articles(count * 2):
        try:
            parse_ninjs(article_to_ninjs(article))
        except InvalidArticle:
            continue
        found.append(article)
    return found[:count]


def documents_for(articles: list[Article], run: str) -> list[dict[str, Any]]:
    """The articles as ninjs, each with a uri no earlier measurement used."""
    return [{**article_to_ninjs(a), "uri": f"{a.uri}-{run}"} for a in articles]


def events_for(articles: list[Article]) -> list[Entry]:
    """The stream entries ingest would write for these articles, for raw XADD."""
    now = datetime.now(UTC)
    return [encode_event(ArticleEvent(
        event_id=str(uuid.uuid4()), type="article.published", article_id=a.id, version=1,
        correlation_id=str(uuid.uuid4()), accepted_at=now, submitted_by="bench", article=a,
    )) for a in articles]  # fmt: skip


def json_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


async def timed(count: int, work: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await work()
    return count / (time.perf_counter() - started)


async def with_concurrency(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> None:
    next_index = iter(range(count))

    async def worker() -> None:
        for index in next_index:
            await one(index)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def encoded(value: Any) -> bytes:
    """A request body as bytes, made before the clock starts, like the raw side's events."""
    return orjson.dumps(value)


class Connections:
    """`count` keep-alive connections to ingest (`KeepAliveClient`: httpx's own CPU, on the
    cores ingest runs on, cost 13 µs an article in a batch import against about 3), each
    request taking whichever is idle."""

    def __init__(self, connections: list[KeepAliveClient]) -> None:
        self._all, self._idle = connections, list(connections)

    @classmethod
    async def open(cls, port: int, key: str, count: int) -> "Connections":
        return cls(
            [await KeepAliveClient.open("127.0.0.1", port, json_headers(key)) for _ in range(count)]
        )

    async def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, bytes]:
        connection = self._idle.pop()
        try:
            return await connection.request("POST", path, body, headers)
        finally:
            self._idle.append(connection)

    def close(self) -> None:
        for connection in self._all:
            connection.close()


async def ingest_single(
    port: int, key: str, bodies: list[bytes], concurrency: int, push_secret: str | None = None
) -> float:
    """One keep-alive connection per client; with `push_secret`, signed pushes instead."""
    connections = await Connections.open(port, key, concurrency)
    path = "/v1/articles" if push_secret is None else "/v1/push/superdesk"
    # Signed before the clock starts, as Superdesk signs before it sends.
    signatures = [
        None
        if push_secret is None
        else {
            "x-superdesk-signature": "sha1="
            + hmac.new(push_secret.encode(), body, hashlib.sha1).hexdigest()
        }
        for body in bodies
    ]

    async def post(index: int) -> None:
        status, head, body = await connections.post(path, bodies[index], signatures[index])
        if status != 202 or b"idempotent-replayed: false" not in head:
            raise RuntimeError(f"not appended: {status} {body[:200]!r}")

    try:
        return await timed(len(bodies), lambda: with_concurrency(len(bodies), concurrency, post))
    finally:
        connections.close()


async def raw_single(redis: aioredis.Redis, events: list[Entry], concurrency: int) -> float:
    async def xadd(index: int) -> None:
        await redis.xadd(RAW_STREAM, events[index])

    return await timed(len(events), lambda: with_concurrency(len(events), concurrency, xadd))


@dataclass(frozen=True)
class Batches:
    """The batch bodies and the uris each changes, made before the clock starts."""

    bodies: list[bytes]
    uris: list[frozenset[str]]
    sizes: list[int]

    @classmethod
    def of(cls, documents: list[dict[str, Any]]) -> "Batches":
        batches = [documents[start : start + BATCH] for start in range(0, len(documents), BATCH)]
        return cls(
            [encoded(batch) for batch in batches],
            [batch_uris(batch) for batch in batches],
            [len(batch) for batch in batches],
        )


async def ingest_batch(port: int, key: str, batches: Batches, in_flight: int) -> float:
    """As `khabar import` posts: BATCH per request, `in_flight` requests at once."""
    connections = await Connections.open(port, key, in_flight)

    async def post(index: int) -> None:
        status, _, body = await connections.post("/v1/articles/batch", batches.bodies[index])
        if status != 200 or orjson.loads(body)["accepted"] != batches.sizes[index]:
            raise RuntimeError(f"batch not fully accepted: {status} {body[:300]!r}")

    try:
        return await timed(
            sum(batches.sizes),
            lambda: send_in_order(
                range(len(batches.bodies)), batches.uris.__getitem__, post, in_flight
            ),
        )
    finally:
        connections.close()


async def raw_batch(redis: aioredis.Redis, events: list[Entry], in_flight: int) -> float:
    """The same events pipelined BATCH at a time, `in_flight` pipelines at once (each on its
    own connection from the pool), as the ingest side sends its batches."""
    batches = [events[start : start + BATCH] for start in range(0, len(events), BATCH)]

    async def add(index: int) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for fields in batches[index]:
                pipe.xadd(RAW_STREAM, fields)
            await pipe.execute()

    return await timed(
        len(events),
        lambda: send_in_order(range(len(batches)), lambda _: frozenset(), add, in_flight),
    )


@dataclass(frozen=True)
class Servers:
    """The processes whose CPU time each measurement reads: ingest's and redis-server's, and
    this one's (the client: KeepAliveClient or redis-py)."""

    ingest_pid: int
    redis_pid: int

    def cpu(self) -> tuple[float, float, float]:
        return cpu_seconds(self.ingest_pid), cpu_seconds(self.redis_pid), time.process_time()


@dataclass(frozen=True)
class Figure:
    rate: float  # articles/s, wall clock
    ingest_us: float  # CPU µs per article, ingest process
    redis_us: float  # CPU µs per article, redis-server
    client_us: float  # CPU µs per article, the load generator (this process)

    @property
    def total_us(self) -> float:
        return self.ingest_us + self.redis_us + self.client_us


async def metered(servers: Servers, count: int, run: Awaitable[float]) -> Figure:
    before = servers.cpu()
    rate = await run
    used = [after - first for after, first in zip(servers.cpu(), before, strict=True)]
    ingest_us, redis_us, client_us = (1e6 * seconds / count for seconds in used)
    return Figure(rate, ingest_us, redis_us, client_us)


def row(name: str, count: int, pairs: list[tuple[Figure, Figure]]) -> list[str]:
    """One table row; with several (ours, raw) pairs, each cell is the median over the pairs
    (the ratio is the median of each pair's ratio: both sides of a pair ran back to back)."""
    ours, raw = [o for o, _ in pairs], [r for _, r in pairs]
    ratios = [r.rate / o.rate for o, r in pairs]
    spread = f"\n({min(ratios):.1f}–{max(ratios):.1f})" if len(pairs) > 1 else ""
    return [
        name,
        str(count),
        f"{median(f.rate for f in ours):,.0f}",
        f"{median(f.rate for f in raw):,.0f}",
        f"{median(ratios):.1f}×{spread}",
        (
            f"{median(f.client_us for f in ours):.0f} + {median(f.ingest_us for f in ours):.0f}"
            f" + {median(f.redis_us for f in ours):.0f}"
        ),
        f"{median(f.client_us for f in raw):.0f} + {median(f.redis_us for f in raw):.0f}",
        f"{median(f.total_us for f in ours) / median(f.total_us for f in raw):.1f}×",
    ]


async def measure(
    port: int,
    key: str,
    redis_url: str,
    servers: Servers,
    articles: list[Article],
    batch_only: bool,
    repeat: int,
    in_flight: int,
    push_secret: str | None = None,
) -> list[list[str]]:
    redis = aioredis.from_url(redis_url)
    events = events_for(articles)
    count = len(articles)
    rows = []
    for concurrency in () if batch_only else (1, 8, 32):
        pairs = []
        for attempt in range(repeat):
            bodies = [
                encoded(d) for d in documents_for(articles, f"single-{concurrency}-{attempt}")
            ]
            ours = await metered(servers, count, ingest_single(port, key, bodies, concurrency))
            raw = await metered(servers, count, raw_single(redis, events, concurrency))
            pairs.append((ours, raw))
        rows.append(row(f"single POST, {concurrency} clients", count, pairs))
        if push_secret is None:
            continue
        pairs = []
        for attempt in range(repeat):
            bodies = [
                encoded(d) for d in documents_for(articles, f"signed-{concurrency}-{attempt}")
            ]
            ours = await metered(
                servers, count, ingest_single(port, key, bodies, concurrency, push_secret)
            )
            raw = await metered(servers, count, raw_single(redis, events, concurrency))
            pairs.append((ours, raw))
        rows.append(row(f"signed push, {concurrency} clients", count, pairs))
    pairs = []
    for attempt in range(repeat):
        batches = Batches.of(documents_for(articles, f"batch-{attempt}"))
        ours = await metered(servers, count, ingest_batch(port, key, batches, in_flight))
        raw = await metered(servers, count, raw_batch(redis, events, in_flight))
        pairs.append((ours, raw))
    rows.append(row(f"batch import ({BATCH} per batch, {in_flight} in flight)", count, pairs))
    await redis.aclose()
    return rows


def run(
    count: int,
    batch_only: bool,
    repeat: int = 1,
    in_flight: int = IN_FLIGHT,
    signed: bool = False,
    appendfsync: str = APPENDFSYNC,
) -> None:
    console = Console(width=120)
    articles = acceptable_articles(count)
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-bench-ingest-") as tmp:
        try:
            redis_url = start_redis(group, Path(tmp) / "redis", free_port(), appendfsync)
            key, port = secrets.token_urlsafe(24), free_port()
            push_secret = secrets.token_urlsafe(24) if signed else None
            env = {
                "KHABAR_REDIS_URL": redis_url,
                "KHABAR_BOOTSTRAP_INGEST_KEY": key,
                "KHABAR_LOG_LEVEL": "WARNING",
                "KHABAR_BOOTSTRAP_PUSH_SECRET": push_secret or "",
            }
            ingest = start_service(group, "ingest", env, port, log_path=Path(tmp) / "ingest.log")
            servers = Servers(ingest.process.pid, group.processes[0].process.pid)
            rows = asyncio.run(
                measure(
                    port,
                    key,
                    redis_url,
                    servers,
                    articles,
                    batch_only,
                    repeat,
                    in_flight,
                    push_secret,
                )
            )
        finally:
            group.stop_all()
    table = Table(
        "measurement",
        "articles",
        "ingest /s",
        "raw XADD /s",
        "raw ÷ ingest",
        "ingest CPU µs/article\n(client + ingest\n+ redis)",
        "raw CPU µs/article\n(client + redis)",
        "CPU ingest\n÷ raw",
        title="ingest beside raw redis-py XADD of the same events "
        f"(appendfsync {appendfsync}; load average {os.getloadavg()[0]:.2f}"
        + (f"; medians of {repeat} back-to-back pairs, ratio range below)" if repeat > 1 else ")"),
    )
    for cells in rows:
        table.add_row(*cells)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument(
        "--batch-only", action="store_true", help="only the batch import and its raw XADD (quicker)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each row this many times, ingest then raw back to back, "
        "and print medians (a shared machine scatters single runs)",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=IN_FLIGHT,
        help="batches (and raw pipelines) at once; 1 is one at a time",
    )
    parser.add_argument(
        "--signed",
        action="store_true",
        help="also single POSTs to the Superdesk push route, signed (HMAC-SHA1)",
    )
    parser.add_argument(
        "--appendfsync",
        choices=("always", "everysec", "no"),
        default=APPENDFSYNC,
        help="the log Redis's fsync policy (shipped: always)",
    )
    arguments = parser.parse_args()
    run(
        arguments.articles,
        arguments.batch_only,
        max(1, arguments.repeat),
        max(1, arguments.in_flight),
        arguments.signed,
        arguments.appendfsync,
    )


if __name__ == "__main__":
    main()
