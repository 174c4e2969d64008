"""Related-story quality on the corpus (issues 4, 20): are the links ones an editor would keep,
whatever order the news arrives in?

    .venv/bin/python -m bench.enrich_quality [--limit N] [--redis-url URL] [--orders ...]

Runs enrich's own handler in-process against a real Redis (its own
`redis-server` on a free port unless `--redis-url` names a database to
flush), feeding the corpus in each arrival order (see `ORDERS`: published
order; each article delayed by a random 0-12 hours; shuffled within each
week), and keeps every article's final related list (after the refreshes
other articles caused). For each order:

- ANT (Arabic): for the silver same-story pairs, the share where each member
  is in the other's top 4 (goal >= 0.9), and the share given one story id;
- ECB+ (English): the share of top-4 links from the same event (goal >= 0.8)
  and from the same topic (goal >= 0.95);
- order dependence: at the end of the order, how many articles' kept lists
  differ from a full recompute over the final set of articles (the list each
  would get if enriched now, see `khabar_enrich.recompute`: enrich's own
  candidates read, scoring and diversifying, on the indexed docs as
  enriched): their shown top 4 as a set, and their whole list in order;
- the refresh events per article, and the CPU per article of enrich's
  process (this one: tagging, scoring, the client side of Redis) and of the
  Redis server (its scripts), from which articles per second per process;
  and the commands Redis ran per article (those its scripts call included),
  all and the reverse index's SADD and EXPIRE: counts the load does not move;

and once, in published order, topics: agreement of the main topic with the
newsroom's categories, as enriched (the newsroom category is a prior) and
from the text alone on the held-out articles.

Prints the figures; it is not a test. The machine's cores are shared: CPU
figures are rough.
"""

import argparse
import asyncio
import itertools
import json
import random
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.enrich_measures import (
    drift,
    label_precision,
    measure_topic_agreement,
    pair_recall,
    topic_agreement,
)
from khabar_dev import corpus
from khabar_dev.corpus import corpus_file
from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_enrich.handler import Enricher
from khabar_enrich.index import RelatedIndex
from khabar_enrich.recompute import related_now
from khabar_enrich.scoring import published_at
from khabar_enrich.settings import EnrichSettings
from khabar_enrich.stories import Sketch, same_text, shingle_sketch
from khabar_enrich.tagging import tag_article, warm_up
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article, ArticleEvent, EnrichedEvent
from khabar_shared.logging import configure_logging
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.redis_helpers import RedisClient, connect

ANT = corpus_file(corpus.ANT)
ECB = corpus_file(corpus.ECB)
PAIRS = corpus_file(corpus.SILVER_PAIRS)
BATCH = 100  # events per batch, as the consumer reads them
WEEK_S = 7 * 86_400
MAX_DELAY_S = 12 * 3600
SEED = 20
ORDERS = {
    "published": "in published order",
    "delayed": "each delayed by a random 0-12 h",
    "weekly-shuffle": "shuffled within each week",
}


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own on a free port, gone afterwards."""
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-enrich-bench-") as tmp:
        try:
            yield start_redis(group, Path(tmp), free_port())
        finally:
            group.stop_all()


def article_event(article: Article, version: int = 1) -> ArticleEvent:
    return ArticleEvent(
        event_id=str(uuid.uuid4()),
        type="article.published",
        article_id=article.id,
        version=version,
        correlation_id=str(uuid.uuid4()),
        accepted_at=datetime.now(UTC),
        submitted_by="bench",
        article=article,
    )


def in_published_order(articles: Iterable[Article]) -> list[Article]:
    return sorted(articles, key=published_at)  # stable: file order breaks ties


def arrival_order(articles: Iterable[Article], order: str, seed: int = SEED) -> list[Article]:
    """The articles as they arrive (see `ORDERS`); the same for the same seed."""
    published = in_published_order(articles)
    rng = random.Random(seed)
    if order == "delayed":
        arrival = {a.id: published_at(a) + rng.uniform(0, MAX_DELAY_S) for a in published}
        return sorted(published, key=lambda a: arrival[a.id])
    if order == "weekly-shuffle":
        arrived: list[Article] = []
        for _, week in itertools.groupby(published, key=lambda a: int(published_at(a) // WEEK_S)):
            days = list(week)
            rng.shuffle(days)
            arrived += days
        return arrived
    assert order == "published", order
    return published


def copy_pairs(
    pairs: Iterable[tuple[str, str]], articles: Iterable[Article]
) -> set[tuple[str, str]]:
    """The pairs that are one text under two uris (syndicated agency copy, see `stories.same_text`):
    one story, which enrich never links to itself. Judged on the sketches enrich makes."""
    by_id = {a.id: a for a in articles}
    sketches: dict[str, Sketch] = {}

    def sketch(article_id: str) -> Sketch:
        if article_id not in sketches:
            sketches[article_id] = shingle_sketch(tag_article(by_id[article_id]).terms)
        return sketches[article_id]

    return {
        (a, b) for a, b in pairs if a in by_id and b in by_id and same_text(sketch(a), sketch(b))
    }


def out_of_order_share(pairs: Iterable[tuple[str, str]], arrived: list[Article]) -> float:
    """Of the pairs present, the share whose later-published member arrived first."""
    position = {a.id: n for n, a in enumerate(arrived)}
    when = {a.id: published_at(a) for a in arrived}
    present = [(a, b) for a, b in pairs if a in position and b in position]
    swapped = sum((when[a] - when[b]) * (position[a] - position[b]) < 0 for a, b in present)
    return swapped / max(len(present), 1)


@dataclass
class Replay:
    """What render would show after the whole replay."""

    related: dict[str, list[str]] = field(default_factory=dict)
    stories: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    refreshes: int = 0
    articles: int = 0
    enrich_cpu_s: float = 0.0  # this process, while enriching
    enrich_wall_s: float = 0.0  # the wall clock, likewise
    redis_cpu_s: float = 0.0  # the Redis server, meanwhile
    # Commands the Redis server ran meanwhile (those scripts call included), by name.
    redis_calls: dict[str, int] = field(default_factory=dict)
    # Each article's list enriched now over the final set (by id), after the replay.
    recomputed: dict[str, list[str]] = field(default_factory=dict)

    def per_article(self, seconds: float) -> str:
        return f"{1000 * seconds / max(self.articles, 1):.2f} ms"

    def calls_per_article(self, *names: str | None) -> str:
        """Redis commands per article: all of them (None), then each named one."""
        per = [
            (sum(self.redis_calls.values()) if n is None else self.redis_calls.get(n, 0))
            / max(self.articles, 1)
            for n in names
        ]
        return "; ".join(f"{p:.1f}" for p in per)

    def apply(self, event: EnrichedEvent) -> None:
        if event.enriched is None:
            self.related.pop(event.article_id, None)
            return
        self.related[event.article_id] = [link.article_id for link in event.enriched.related]
        if event.type == "article.related_refreshed":
            self.refreshes += 1
        else:
            self.stories[event.article_id] = event.enriched.story_id
            self.topics[event.article_id] = event.enriched.topic


async def replay(
    articles: list[Article], redis_url: str, publish: bool = False, **overrides: object
) -> Replay:
    """Enrich `articles` in order, in batches, on an emptied Redis database, as the consumer
    would."""
    redis = connect(redis_url, cluster=False)
    await redis.flushdb()
    settings = EnrichSettings(redis_url=redis_url, **overrides)
    index = RelatedIndex(redis, settings)
    enricher = Enricher(redis, index, settings)
    result = Replay(articles=len(articles))
    try:
        redis_cpu = await server_cpu(redis)
        calls = await server_calls(redis)
        for start in range(0, len(articles), BATCH):
            batch = [article_event(a) for a in articles[start : start + BATCH]]
            cpu, wall = time.process_time(), time.perf_counter()
            outgoing = await enricher.enrich_batch(
                batch
            )  # as `Enricher.handle` does, keeping the events
            if publish:
                await enricher.publish(outgoing)
                await redis.xtrim(ENRICHED_STREAM, maxlen=1000, approximate=True)
            result.enrich_cpu_s += time.process_time() - cpu
            result.enrich_wall_s += time.perf_counter() - wall
            for enriched_event in outgoing:
                result.apply(enriched_event)
        result.redis_cpu_s = await server_cpu(redis) - redis_cpu
        after = await server_calls(redis)
        result.redis_calls = {name: n - calls.get(name, 0) for name, n in after.items()}
        now = await related_now(redis, index, list(result.related), settings.max_related)
        result.recomputed = {i: [link.article_id for link in links] for i, links in now.items()}
    finally:
        await redis.aclose()
    return result


async def server_cpu(redis: RedisClient) -> float:
    """The Redis server's CPU seconds so far (user and system, main thread and children)."""
    cpu = await redis.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def server_calls(redis: RedisClient) -> dict[str, int]:
    """The commands the Redis server ran so far, by name (a count machine load does not move)."""
    stats = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


def silver_pairs() -> list[tuple[str, str]]:
    return [(p["a"].lower(), p["b"].lower()) for p in json.loads(PAIRS.read_text())]


async def measure(
    redis_url: str, limit: int | None, orders: list[str], console: Console, topics_too: bool = True
) -> list[Table]:
    """The tables not printed yet (the arrival-order one is printed as soon as it is made)."""
    warm_up()  # as the service does at start: the first order pays no more than the others
    ant = in_published_order(a for a in iter_corpus(ANT, limit=limit) if a.headline)
    ecb = in_published_order(iter_corpus(ECB))
    copies = copy_pairs(silver_pairs(), ant)
    pairs = [p for p in silver_pairs() if p not in copies]
    rows: dict[str, list[str]] = {}  # measure (with its goal) -> a figure per order
    first: Replay | None = None
    for order in orders:
        arrived = arrival_order(ant, order)
        console.print(f"replaying {len(ant)} ANT articles, {ORDERS[order]} …")
        arabic = await replay(arrived, redis_url)
        first = first or arabic
        recall = pair_recall(pairs, arabic.related, arabic.stories)
        console.print(f"replaying {len(ecb)} ECB+ articles, {ORDERS[order]} …")
        english = await replay(arrival_order(ecb, order), redis_url)
        events = label_precision(english.related, {a.id: a.extra["event"] for a in ecb})
        topics = label_precision(english.related, {a.id: a.extra["topic"] for a in ecb})
        copied = pair_recall(copies, arabic.related, arabic.stories)
        ant_drift = drift(arabic.related, arabic.recomputed)
        ecb_drift = drift(english.related, english.recomputed)
        figures = {
            "silver pairs arriving out of order": f"{out_of_order_share(pairs, arrived):.3f}",
            "silver pairs that are copies of one text: one story id (=1), linked (=0)": (
                f"{copied.same_story:.3f}, {copied.either:.3f} (n={copied.pairs})"
            ),
            "silver pairs (not copies): each in the other's top 4 (>= 0.9)": (
                f"{recall.both:.3f} (n={recall.pairs})"
            ),
            "silver pairs: at least one way": f"{recall.either:.3f}",
            "silver pairs: one story id": f"{recall.same_story:.3f}",
            "ECB+: top-4 links of the same event (>= 0.8)": (
                f"{events.precision:.3f} (n={events.links})"
            ),
            "ECB+: top-4 links of the same topic (>= 0.95)": f"{topics.precision:.3f}",
            "ANT: kept top 4 (as a set) != recompute over the final set (0)": (
                f"{ant_drift.shown_differ} of {ant_drift.articles}"
            ),
            "ANT: kept whole list (in order) != recompute": (
                f"{ant_drift.list_differs} of {ant_drift.articles}"
            ),
            "ECB+: kept top 4 != recompute; whole list != recompute": (
                f"{ecb_drift.shown_differ}; {ecb_drift.list_differs} of {ecb_drift.articles}"
            ),
            "ANT: refresh events per article": f"{arabic.refreshes / max(arabic.articles, 1):.2f}",
            "ANT: enrich CPU per article": arabic.per_article(arabic.enrich_cpu_s),
            "ANT: articles/s per process (>= 200)": (
                f"{arabic.articles / max(arabic.enrich_cpu_s, 1e-9):.0f}"
            ),
            "ANT: Redis CPU per article": arabic.per_article(arabic.redis_cpu_s),
            "ANT: Redis commands per article (all; SADD, EXPIRE)": arabic.calls_per_article(
                None, "sadd", "expire"
            ),
        }
        for measure_name, figure in figures.items():
            rows.setdefault(measure_name, []).append(figure)
    table = Table(
        title=f"enrich: related stories by arrival order ({len(ant)} ANT articles; "
        "CPU rough, cores shared)"
    )
    table.add_column("measure (goal)")
    for order in orders:
        table.add_column(ORDERS[order])
    for measure_name, figures_of_orders in rows.items():
        table.add_row(measure_name, *figures_of_orders)
    console.print(table)  # now: the topics take a while more
    tables = [table]
    if first is not None and topics_too:
        tables.append(topic_table(ant, first))
    return tables[1:]


def topic_table(ant: list[Article], arabic: Replay) -> Table:
    table = Table(title="enrich: topics (first order)")
    for column in ("measure", "value", "n"):
        table.add_column(column)
    categories = {a.id: a.extra["categories"] for a in ant}
    agreement = topic_agreement((categories[i], t) for i, t in arabic.topics.items())
    table.add_row(
        "topic = newsroom category (as enriched)",
        f"{agreement['agreement']:.3f}",
        str(agreement["articles"]),
    )
    text_only = measure_topic_agreement(ANT, limit=3000, use_category=False)
    table.add_row(
        "topic = newsroom category (text only, held out)",
        f"{text_only['agreement']:.3f}",
        str(text_only["articles"]),
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="ANT articles to replay (default: all)"
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="a Redis database to FLUSH and use (default: start our own redis-server)",
    )
    parser.add_argument(
        "--orders",
        nargs="+",
        choices=list(ORDERS),
        default=list(ORDERS),
        help="arrival orders to replay (default: all)",
    )
    parser.add_argument("--no-topics", action="store_true", help="skip the topic measures")
    args = parser.parse_args()
    configure_logging("enrich-bench", "console", "WARNING")
    console = Console()
    if args.redis_url:
        console.print(
            *asyncio.run(
                measure(args.redis_url, args.limit, args.orders, console, not args.no_topics)
            )
        )
        return
    with private_redis() as url:
        console.print(
            *asyncio.run(measure(url, args.limit, args.orders, console, not args.no_topics))
        )


if __name__ == "__main__":
    main()
