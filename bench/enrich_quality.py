"""Related-story quality on the corpus (issue 4): are the links ones an editor would keep?

    .venv/bin/python -m bench.enrich_quality [--limit N] [--redis-url URL]

Runs enrich's own handler in-process against a real Redis (its own
`redis-server` on a free port unless `--redis-url` names a database to
flush), feeding the corpus in published order, and keeps every article's
final related list (after the refreshes later articles caused). Then:

- ANT (Arabic): for the silver same-story pairs, the share where each member
  is in the other's top 4 (goal >= 0.9), and the share given one story id;
- ECB+ (English): the share of top-4 links from the same event (goal >= 0.8)
  and from the same topic (goal >= 0.95);
- topics: agreement of the main topic with the newsroom's categories, as
  enriched (the newsroom category is a prior) and from the text alone on the
  held-out articles.

Prints the figures; it is not a test.
"""

import argparse
import asyncio
import json
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.enrich_measures import (
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
from khabar_enrich.scoring import published_at
from khabar_enrich.settings import EnrichSettings
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article, ArticleEvent, EnrichedEvent
from khabar_shared.logging import configure_logging
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.redis_helpers import connect

ANT = corpus_file(corpus.ANT)
ECB = corpus_file(corpus.ECB)
PAIRS = corpus_file(corpus.SILVER_PAIRS)
BATCH = 100  # events per batch, as the consumer reads them


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


@dataclass
class Replay:
    """What render would show after the whole replay."""

    related: dict[str, list[str]] = field(default_factory=dict)
    stories: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    refreshes: int = 0

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
    """Enrich `articles` in order, in batches, on an emptied Redis database, as the consumer would."""
    redis = connect(redis_url, cluster=False)
    await redis.flushdb()
    settings = EnrichSettings(redis_url=redis_url, **overrides)
    enricher = Enricher(redis, RelatedIndex(redis, settings), settings)
    result = Replay()
    try:
        for start in range(0, len(articles), BATCH):
            batch = [article_event(a) for a in articles[start : start + BATCH]]
            outgoing = await enricher.enrich_batch(
                batch
            )  # as `Enricher.handle` does, keeping the events
            if publish:
                await enricher.publish(outgoing)
                await redis.xtrim(ENRICHED_STREAM, maxlen=1000, approximate=True)
            for enriched_event in outgoing:
                result.apply(enriched_event)
    finally:
        await redis.aclose()
    return result


def silver_pairs() -> list[tuple[str, str]]:
    return [(p["a"].lower(), p["b"].lower()) for p in json.loads(PAIRS.read_text())]


async def measure(redis_url: str, limit: int | None, console: Console) -> Table:
    table = Table(title="enrich: related-story quality")
    for column in ("measure", "value", "goal", "n"):
        table.add_column(column)

    ant = in_published_order(a for a in iter_corpus(ANT, limit=limit) if a.headline)
    console.print(f"replaying {len(ant)} ANT articles …")
    arabic = await replay(ant, redis_url)
    recall = pair_recall(silver_pairs(), arabic.related, arabic.stories)
    table.add_row(
        "silver pairs: each in the other's top 4", f"{recall.both:.3f}", ">= 0.9", str(recall.pairs)
    )
    table.add_row("silver pairs: at least one way", f"{recall.either:.3f}", "", str(recall.pairs))
    table.add_row("silver pairs: one story id", f"{recall.same_story:.3f}", "", str(recall.pairs))
    table.add_row(
        "ANT: articles with >= 1 link",
        f"{sum(bool(r) for r in arabic.related.values()) / max(len(arabic.related), 1):.3f}",
        "",
        str(len(arabic.related)),
    )
    table.add_row(
        "ANT: refresh events",
        str(arabic.refreshes),
        f"<= {EnrichSettings().refresh_fanout}/article",
        str(len(ant)),
    )
    categories = {a.id: a.extra["categories"] for a in ant}
    agreement = topic_agreement((categories[i], t) for i, t in arabic.topics.items())
    table.add_row(
        "topic = newsroom category (as enriched)",
        f"{agreement['agreement']:.3f}",
        "",
        str(agreement["articles"]),
    )
    text_only = measure_topic_agreement(ANT, limit=3000, use_category=False)
    table.add_row(
        "topic = newsroom category (text only, held out)",
        f"{text_only['agreement']:.3f}",
        "",
        str(text_only["articles"]),
    )

    ecb = in_published_order(iter_corpus(ECB))
    console.print(f"replaying {len(ecb)} ECB+ articles …")
    english = await replay(ecb, redis_url)
    events = label_precision(english.related, {a.id: a.extra["event"] for a in ecb})
    topics = label_precision(english.related, {a.id: a.extra["topic"] for a in ecb})
    table.add_row(
        "ECB+: top-4 links of the same event",
        f"{events.precision:.3f}",
        ">= 0.8",
        str(events.links),
    )
    table.add_row(
        "ECB+: top-4 links of the same topic",
        f"{topics.precision:.3f}",
        ">= 0.95",
        str(topics.links),
    )
    table.add_row(
        "ECB+: articles with >= 1 link", f"{events.with_links:.3f}", "", str(events.articles)
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
    args = parser.parse_args()
    configure_logging("enrich-bench", "console", "WARNING")
    console = Console()
    if args.redis_url:
        console.print(asyncio.run(measure(args.redis_url, args.limit, console)))
        return
    with private_redis() as url:
        console.print(asyncio.run(measure(url, args.limit, console)))


if __name__ == "__main__":
    main()
