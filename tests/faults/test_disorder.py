"""Duplicates and disorder: every consumer's real handler, fed an article's versions
duplicated, shuffled and split into batches at random, ends at the newest version.

The handlers run in this process against the test Redis and Meilisearch, exactly
as their services call them (a list of deliveries per batch). Hypothesis draws
how many versions an article has, which of them withdraws it, how often each is
delivered, in what order and in which batches.
"""

import asyncio
import html
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from khabar_enrich.handler import Enricher
from khabar_enrich.index import RelatedIndex
from khabar_enrich.settings import EnrichSettings
from khabar_render.fragments import category_of
from khabar_render.handler import FragmentUpdater
from khabar_render.purge import PurgeNotifier
from khabar_render.renderer import Renderer
from khabar_render.site import default_site
from khabar_render.store import ArticleStore, FragmentCache
from khabar_search.indexer import Indexer
from khabar_search.meili import MeiliWriter
from khabar_shared.consumer import Delivery
from khabar_shared.events import (
    Article,
    ArticleEvent,
    EnrichedArticle,
    EnrichedEvent,
)
from khabar_shared.names import ENRICHED_STREAM
from tests.conftest import Servers
from tests.faults.harness import corpus_articles

DB = 6
ARTICLES = corpus_articles(12)
COUNTER = itertools.count()


@dataclass(frozen=True)
class Plan:
    """One article's history and the order its events are delivered in."""

    versions: int
    withdrawn_at: int | None  # the version that withdraws it, if any
    order: list[int]  # versions in delivery order, with repeats
    cuts: list[int]  # batch boundaries in `order`

    @property
    def newest(self) -> int:
        return self.versions

    @property
    def ends_withdrawn(self) -> bool:
        return self.withdrawn_at == self.versions

    def batches(self) -> list[list[int]]:
        bounds = [0, *sorted(set(self.cuts)), len(self.order)]
        return [self.order[a:b] for a, b in itertools.pairwise(bounds) if a < b]


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    versions = draw(st.integers(min_value=2, max_value=5))
    withdrawn_at = draw(st.one_of(st.none(), st.integers(min_value=2, max_value=versions)))
    repeats = [draw(st.integers(min_value=1, max_value=3)) for _ in range(versions)]
    order = draw(
        st.permutations(
            [v for v, n in zip(range(1, versions + 1), repeats, strict=True) for _ in range(n)]
        )
    )
    cuts = draw(st.lists(st.integers(min_value=1, max_value=max(1, len(order) - 1)), max_size=3))
    return Plan(versions, withdrawn_at, list(order), cuts)


def headline_of(base: Article, version: int) -> str:
    return f"{base.headline} — نسخة {version}"


def article_at(base: Article, article_id: str, version: int, plan: Plan) -> Article:
    # The withdrawal is one version; a later version republishes (a newsroom may do that).
    status = "canceled" if version == plan.withdrawn_at else "usable"
    return base.model_copy(
        update={
            "id": article_id,
            "uri": f"urn:disorder:{article_id}",
            "headline": headline_of(base, version),
            "pubstatus": status,
        }
    )


def article_event(base: Article, article_id: str, version: int, plan: Plan) -> ArticleEvent:
    article = article_at(base, article_id, version, plan)
    kind = (
        "article.withdrawn"
        if article.pubstatus == "canceled"
        else ("article.published" if version == 1 else "article.updated")
    )
    return ArticleEvent(
        event_id=str(uuid.uuid4()),
        type=kind,
        article_id=article_id,
        version=version,
        correlation_id=str(uuid.uuid4()),
        accepted_at=datetime.now(UTC),
        submitted_by="disorder",
        article=article,
    )


def enriched_event(base: Article, article_id: str, version: int, plan: Plan) -> EnrichedEvent:
    article = article_at(base, article_id, version, plan)
    if article.pubstatus == "canceled":
        return EnrichedEvent(
            event_id=str(uuid.uuid4()),
            type="article.withdrawn",
            article_id=article_id,
            version=version,
            correlation_id="c",
            source_event_id=str(uuid.uuid4()),
        )
    enriched = EnrichedArticle(
        article=article, version=version, topic="politics", enriched_at=datetime.now(UTC)
    )
    return EnrichedEvent(
        event_id=str(uuid.uuid4()),
        type="article.enriched",
        article_id=article_id,
        version=version,
        correlation_id="c",
        source_event_id=str(uuid.uuid4()),
        enriched=enriched,
    )


async def deliver(handle: Any, make: Any, plan: Plan) -> None:
    """Each batch as its own handler call; a repeat of a version is the same event again."""
    events = {version: make(version) for version in range(1, plan.versions + 1)}
    for number, batch in enumerate(plan.batches()):
        await handle([Delivery(f"{number}-{i}", events[v]) for i, v in enumerate(batch)])


@pytest.fixture(scope="module")
def index_name(servers: Servers) -> str:
    name = f"articles_disorder_{uuid.uuid4().hex[:8]}"
    writer = MeiliWriter(servers.meili_url, servers.meili_keys.index_key, name)
    asyncio.run(writer.ensure_index())
    return name


def redis_url(servers: Servers) -> str:
    return servers.redis_url.rsplit("/", 1)[0] + f"/{DB}"


EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@EXAMPLES
@given(plan=plans(), which=st.integers(min_value=0, max_value=len(ARTICLES) - 1))
def test_search_index_ends_at_the_newest_version(
    servers: Servers, index_name: str, plan: Plan, which: int
) -> None:
    base, article_id = ARTICLES[which], f"disorder-s-{next(COUNTER)}-{uuid.uuid4().hex[:6]}"

    async def run() -> dict[str, Any] | None:
        redis = aioredis.from_url(redis_url(servers))
        writer = MeiliWriter(servers.meili_url, servers.meili_keys.index_key, index_name)
        try:
            indexer = Indexer(redis, writer, retry_max_s=0)
            await deliver(indexer.handle, lambda v: enriched_event(base, article_id, v, plan), plan)
        finally:
            await redis.aclose()
        return await asyncio.to_thread(_document, servers, index_name, article_id)

    document = asyncio.run(run())
    if plan.ends_withdrawn:
        assert document is None, f"withdrawn article back in the index at v{document}"
    else:
        assert document is not None
        assert (document["version"], document["headline"]) == (
            plan.newest,
            headline_of(base, plan.newest),
        )


def _document(servers: Servers, index_name: str, article_id: str) -> dict[str, Any] | None:
    import httpx

    response = httpx.get(
        f"{servers.meili_url}/indexes/{index_name}/documents/{article_id}",
        headers={"Authorization": f"Bearer {servers.meili_master_key}"},
        timeout=10,
    )
    return None if response.status_code == 404 else response.raise_for_status().json()


@EXAMPLES
@given(plan=plans(), which=st.integers(min_value=0, max_value=len(ARTICLES) - 1))
def test_render_fragments_end_at_the_newest_version(
    servers: Servers, plan: Plan, which: int
) -> None:
    base, article_id = ARTICLES[which], f"disorder-r-{next(COUNTER)}-{uuid.uuid4().hex[:6]}"

    async def run() -> tuple[Any, Any]:
        redis = aioredis.from_url(redis_url(servers))
        site = default_site()
        articles = ArticleStore(redis, lambda enriched: site.section(category_of(enriched)).slug)
        cache = FragmentCache(redis)
        updater = FragmentUpdater(
            articles,
            cache,
            Renderer(articles, cache, site, 20, 4),
            PurgeNotifier(""),
            20,
            eager_limit=64,
        )
        try:
            await deliver(updater.handle, lambda v: enriched_event(base, article_id, v, plan), plan)
            return await articles.get(article_id), await cache.get(f"article:{article_id}")
        finally:
            await redis.aclose()

    stored, fragment = asyncio.run(run())
    assert stored is not None and stored.version == plan.newest
    if plan.ends_withdrawn:
        assert stored.status == "withdrawn"
        assert fragment is None or headline_of(base, 1)[:20] not in html.unescape(fragment.html)
    else:
        assert stored.status == "live"
        assert fragment is not None
        assert headline_of(base, plan.newest) in html.unescape(fragment.html)


@EXAMPLES
@given(plan=plans(), which=st.integers(min_value=0, max_value=len(ARTICLES) - 1))
def test_enrich_never_emits_an_older_version_after_a_newer_one(
    servers: Servers, plan: Plan, which: int
) -> None:
    base, article_id = ARTICLES[which], f"disorder-e-{next(COUNTER)}-{uuid.uuid4().hex[:6]}"

    async def run() -> list[tuple[str, int]]:
        redis = aioredis.from_url(redis_url(servers))
        enrich_settings = EnrichSettings(redis_url=redis_url(servers))
        enricher = Enricher(redis, RelatedIndex(redis, enrich_settings), enrich_settings)
        start = (
            (await redis.xinfo_stream(ENRICHED_STREAM))["last-generated-id"]
            if await redis.exists(ENRICHED_STREAM)
            else b"0-0"
        )
        try:
            await deliver(enricher.handle, lambda v: article_event(base, article_id, v, plan), plan)
            emitted = await redis.xrange(ENRICHED_STREAM, min=b"(" + start)
        finally:
            await redis.aclose()
        return [
            (f[b"type"].decode(), int(f[b"version"]))
            for _, f in emitted
            if f[b"article_id"].decode() == article_id
        ]

    emitted = asyncio.run(run())
    versions = [version for _, version in emitted]
    assert versions == sorted(versions), f"older version emitted after a newer one: {emitted}"
    assert versions[-1] == plan.newest
    last_type = emitted[-1][0]
    assert last_type == ("article.withdrawn" if plan.ends_withdrawn else "article.enriched")
    # Once the withdrawal is out, nothing older revives the article.
    if plan.withdrawn_at is not None and (("article.withdrawn", plan.withdrawn_at) in emitted):
        first = emitted.index(("article.withdrawn", plan.withdrawn_at))
        assert all(v >= plan.withdrawn_at for _, v in emitted[first:]), emitted
