"""Enrich's golden check: the events and Redis keys a fixed run writes, byte for byte.

Corpus articles in published order, in batches as the consumer reads them,
then updates, withdrawals, a stale event and an embargoed article, through the
handler as the consumer runs it. Everything in Redis afterwards (the index,
the copies, the versions, the enriched stream) is held equal to
`tests/data/golden/enrich.json`, made by the code before a refactoring.
"""

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count

import pytest
import redis as sync_redis

from khabar_dev.corpus import ANT, corpus_file
from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_enrich.handler import Enricher
from khabar_enrich.index import RelatedIndex
from khabar_enrich.scoring import published_at
from khabar_enrich.settings import EnrichSettings
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article, ArticleEvent
from khabar_shared.redis_helpers import connect
from tests.golden.dump import Namer, check, keys

ARTICLES = 200
BATCH = 40
ACCEPTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("golden-enrich"), free_port())
    finally:
        group.stop_all()


class Events:
    """Article events with ids and times fixed by their order."""

    def __init__(self) -> None:
        self._n = count(1)

    def __call__(self, article: Article, version: int = 1, **changes: object) -> ArticleEvent:
        n = next(self._n)
        canceled = changes.get("pubstatus") == "canceled"
        return ArticleEvent(
            event_id=f"00000000-0000-4000-8000-{n:012d}",
            type="article.withdrawn" if canceled else "article.published",
            article_id=article.id,
            version=version,
            correlation_id=f"00000000-0000-4000-9000-{n:012d}",
            accepted_at=ACCEPTED,
            submitted_by="golden",
            article=article.model_copy(update=changes),
        )


async def test_enrich_writes_what_it_wrote_before(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = count()
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: f"{next(tokens):0{2 * (n or 16)}x}")
    start = datetime.now(UTC)
    articles = sorted(iter_corpus(corpus_file(ANT), limit=ARTICLES), key=published_at)
    event = Events()
    redis = connect(redis_url, cluster=False)
    await redis.flushdb()
    settings = EnrichSettings(redis_url=redis_url)
    enricher = Enricher(redis, RelatedIndex(redis, settings), settings)
    try:
        batches = [
            [event(a) for a in articles[i : i + BATCH]] for i in range(0, len(articles), BATCH)
        ]
        later = articles[-40:]
        batches.append(
            [
                *(event(a, 2, headline=a.headline + " (محدث)") for a in later[:5]),
                *(event(a, 2, pubstatus="canceled") for a in later[5:8]),
                event(later[0], 1),  # stale: version 2 is enriched
                event(later[8], 2, embargoed=datetime(2100, 1, 1, tzinfo=UTC)),
                event(later[1], 3, pubstatus="canceled"),  # withdrawn in the batch that updated it
            ]
        )
        for batch in batches:
            await enricher.publish(await enricher.enrich_batch(batch))
    finally:
        await redis.aclose()
    end = datetime.now(UTC)
    with sync_redis.Redis.from_url(redis_url) as client:
        check("enrich", keys(client, Namer(start, end)))
