"""Enrich throughput (issue 4): articles/s for one process, and cost growth with the archive.

    .venv/bin/python -m bench.enrich [--articles 3000] [--sizes 1000,10000,20000] [--probes 200]

Starts its own redis-server, then measures on the ANT corpus in published order:

1. in-process: enrich's handler (tags, index, related, refreshes, XADD of
   the enriched events) over `--articles` articles: articles/s by the wall
   clock and by this process's CPU time (the machine may be shared), while
   enriching and publishing only (the replay's events made beforehand and its
   recompute of every list afterwards are shown apart), and the share of it
   that tagging takes;
2. growth: the same `--probes` articles (the corpus's newest) enriched, in
   batches as the consumer reads them, with the 1k, 10k and 20k articles
   published just before them indexed (a new index for each size, built
   oldest first, in a redis-server of its own), time per article for the
   index work (their tags computed once beforehand, since tagging does not
   depend on the archive), and redis-server's CPU; the sizes take the probe
   batches in turn, so a shared machine's changing load falls on all alike;
3. the real `khabar-enrich` process fed `--process-articles` events through
   the article stream, in two halves: articles/s from the first XADD until
   its consumer group has nothing left to read or ack, for the first half
   (the new process's caches cold, as after a deploy) and the next (warm).

Prints a table; it is not a test.
"""

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.enrich_quality import (
    ANT,
    BATCH,
    article_event,
    in_published_order,
    private_redis,
    replay,
)
from bench.harness import cpu_seconds
from khabar_dev.processes import ProcessGroup, free_port, start_service
from khabar_enrich.handler import Enricher
from khabar_enrich.index import RelatedIndex
from khabar_enrich.settings import EnrichSettings
from khabar_enrich.tagging import TagResult, tag_article, warm_up
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.collector import settle_collector
from khabar_shared.events import Article, ArticleEvent, encode_event
from khabar_shared.logging import configure_logging
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICH_GROUP
from khabar_shared.redis_helpers import RedisClient, connect


def corpus(limit: int | None = None) -> list[Article]:
    return in_published_order(a for a in iter_corpus(ANT, limit=limit) if a.headline)


class Clock:
    """Wall-clock and CPU seconds since start."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def elapsed(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


async def in_process(articles: list[Article], url: str, table: Table) -> None:
    warm_up()  # as the service does before its first event (see khabar_enrich.app)
    settle_collector()
    clock = Clock()
    replayed = await replay(articles, url, publish=True)
    whole_wall, whole_cpu = clock.elapsed()
    # Enrich's own time: the replay's recompute of every list over the final set afterwards
    # (a quality check, see `recompute.py`) and its making of the events are not enrich's work.
    wall, cpu = replayed.enrich_wall_s, replayed.enrich_cpu_s
    clock = Clock()
    for article in articles:
        tag_article(article)
    tag_wall, tag_cpu = clock.elapsed()
    n = len(articles)
    table.add_row("in-process: articles/s (wall)", f"{n / wall:.0f}", ">= 200", str(n))
    table.add_row(
        "in-process: articles/s (CPU of this process)", f"{n / cpu:.0f}", ">= 200", str(n)
    )
    table.add_row("  of which tagging: ms/article (CPU)", f"{1000 * tag_cpu / n:.2f}", "", str(n))
    table.add_row(
        "  the rest (index, related, refresh, XADD): ms/article (CPU)",
        f"{1000 * (cpu - tag_cpu) / n:.2f}",
        "",
        str(n),
    )
    table.add_row("  tagging alone: articles/s (wall)", f"{n / tag_wall:.0f}", "", str(n))
    table.add_row(
        "  the whole replay, its recompute included: articles/s (wall; CPU)",
        f"{n / whole_wall:.0f}; {n / whole_cpu:.0f}",
        "",
        str(n),
    )


@dataclass
class SizeRun:
    """One archive size's index (a redis-server of its own) and what its probes cost so far."""

    size: int
    redis: RedisClient
    redis_pid: int
    enricher: Enricher
    cpu: float = 0.0
    wall: float = 0.0
    redis_cpu: float = 0.0

    async def probe(self, events: list[ArticleEvent]) -> None:
        redis_before = cpu_seconds(self.redis_pid)
        clock = Clock()
        await self.enricher.enrich_batch(events)
        wall, cpu = clock.elapsed()
        self.wall, self.cpu = self.wall + wall, self.cpu + cpu
        self.redis_cpu += cpu_seconds(self.redis_pid) - redis_before


async def growth(sizes: list[int], probes: int, table: Table, console: Console) -> None:
    articles = corpus()
    probe_articles, archive = articles[-probes:], articles[:-probes]
    probe_tags: dict[str, TagResult] = {a.id: tag_article(a) for a in probe_articles}

    def cached_tagger(article: Article) -> TagResult:
        return probe_tags.get(article.id) or tag_article(article)

    with ExitStack() as servers:
        runs = []
        for size in sorted(sizes):
            # A new index of the `size` articles published just before the probes, built oldest
            # first as news arrives: sizes differ only in how far back the archive goes, not in how
            # recent the probes' neighbours are (the corpus's oldest 1,000 lie years before the
            # probes: nothing to refresh, few candidates), nor in which docs the process still
            # remembers (an enricher, and a redis-server, of its own).
            console.print(f"indexing the {size} articles before the probes …")
            url = servers.enter_context(private_redis())
            redis = connect(url, cluster=False)
            settings = EnrichSettings(redis_url=url)
            enricher = Enricher(
                redis, RelatedIndex(redis, settings), settings, tagger=cached_tagger
            )
            await in_batches(
                enricher, [article_event(a) for a in archive[max(len(archive) - size, 0) :]]
            )
            runs.append(SizeRun(size, redis, (await redis.info("server"))["process_id"], enricher))
        # The probes a batch at a time, each size in turn: the machine may be shared, and a change
        # in its load then falls on every size alike, not on whichever was measured last.
        for start in range(0, probes, BATCH):
            for run in runs:
                await run.probe([article_event(a) for a in probe_articles[start : start + BATCH]])
        baseline = 1000 * runs[0].cpu / probes
        for run in runs:
            per_article = 1000 * run.cpu / probes
            # The wall time also counts Redis's work (the candidates script) and the waits for it.
            wall, redis_cpu = 1000 * run.wall / probes, 1000 * run.redis_cpu / probes
            table.add_row(
                f"index work with {run.size} indexed: ms/article (CPU; wall {wall:.2f}; "
                f"redis-server CPU {redis_cpu:.2f})",
                f"{per_article:.2f}",
                "",
                f"x{per_article / baseline:.2f}",
            )
            await run.redis.aclose()


async def in_batches(enricher: Enricher, events: list[ArticleEvent]) -> None:
    """As the consumer hands them to the handler (nothing published)."""
    for start in range(0, len(events), BATCH):
        await enricher.enrich_batch(events[start : start + BATCH])


@contextmanager
def enrich_process(url: str) -> Iterator[int]:
    """A `khabar-enrich` process on `url`, ready; yields its pid."""
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-enrich-proc-") as tmp:
        try:
            env = {
                "KHABAR_REDIS_URL": url,
                "KHABAR_LOG_LEVEL": "WARNING",
                "KHABAR_BATCH_SIZE": "100",
            }
            managed = start_service(
                group, "enrich", env, free_port(), log_path=Path(tmp) / "enrich.log"
            )
            yield managed.process.pid
        finally:
            group.stop_all()


async def through_process(articles: list[Article], url: str, table: Table) -> None:
    """The process fed the first half of `articles`, then the second: a new process's caches
    (words, parsed docs) are cold during the first, as after a deploy; warm during the second,
    as for most of a process's life."""
    redis = connect(url, cluster=False)
    await redis.flushdb()
    redis_pid = (await redis.info("server"))["process_id"]
    half = len(articles) // 2
    with enrich_process(url) as enrich_pid:
        for label, part, fed_before in (
            ("first", articles[:half], 0),
            ("next", articles[half:], half),
        ):
            n = len(part)
            # The machine may be shared: the CPU each process used is steadier than the wall clock.
            cpu_before = cpu_seconds(enrich_pid), cpu_seconds(redis_pid)
            clock = Clock()
            async with redis.pipeline(transaction=False) as pipe:
                for article in part:
                    pipe.xadd(ARTICLE_EVENTS_STREAM, encode_event(article_event(article)))
                await pipe.execute()
            while not await _drained(redis, fed_before + n):
                await asyncio.sleep(0.05)
            wall, _ = clock.elapsed()
            enrich_cpu = cpu_seconds(enrich_pid) - cpu_before[0]
            redis_cpu = cpu_seconds(redis_pid) - cpu_before[1]
            name = f"khabar-enrich process, {label} {n} articles"
            table.add_row(
                f"{name}: articles/s (wall, from XADD to acked)",
                f"{n / wall:.0f}",
                ">= 200",
                str(n),
            )
            table.add_row(
                "  khabar-enrich process: ms/article (CPU)",
                f"{1000 * enrich_cpu / n:.2f}",
                "<= 5",
                str(n),
            )
            table.add_row(
                "  redis-server: ms/article (CPU, XADDs of the feed included)",
                f"{1000 * redis_cpu / n:.2f}",
                "",
                str(n),
            )
    await redis.aclose()


async def _drained(redis, expected: int) -> bool:  # type: ignore[no-untyped-def]
    for group in await redis.xinfo_groups(ARTICLE_EVENTS_STREAM):
        if group["name"].decode() == ENRICH_GROUP:
            return (
                group["entries-read"] is not None
                and group["entries-read"] >= expected
                and group["pending"] == 0
            )
    return False


async def run(args: argparse.Namespace, url: str, console: Console) -> Table:
    table = Table(
        title=f"enrich: throughput and growth ({os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f})"
    )
    for column in ("measure", "value", "goal", "n / growth"):
        table.add_column(column)
    if args.articles:
        articles = corpus(args.articles * 2)[: args.articles]
        console.print(f"in-process run over {len(articles)} articles …")
        await in_process(articles, url, table)
    if args.process_articles:
        console.print(f"khabar-enrich process over {args.process_articles} articles …")
        await through_process(
            corpus(args.process_articles * 2)[: args.process_articles], url, table
        )
    if args.sizes:
        await growth([int(s) for s in args.sizes.split(",")], args.probes, table, console)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=3000, help="in-process run; 0 to skip")
    parser.add_argument("--process-articles", type=int, default=2000)
    parser.add_argument("--sizes", default="1000,10000,20000", help="archive sizes; empty to skip")
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()
    configure_logging("enrich-bench", "console", "WARNING")
    console = Console()
    with private_redis() as url:
        console.print(asyncio.run(run(args, url, console)))


if __name__ == "__main__":
    main()
