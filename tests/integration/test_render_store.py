"""Render's article store on a real Redis, written by many replicas at once.

Replicas of render apply events concurrently; whatever order their writes
land in, the newest version must be the one stored, the article must be
listed in exactly the section of that version, and the dependency index
must hold exactly what fragments show.
"""

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_render.fragments import category_of
from khabar_render.site import default_site
from khabar_render.store import LATEST_KEY, ArticleStore, section_key, shown_in_key
from khabar_shared.events import EnrichedArticle
from tests.integration.test_render_service import sample_ar

SITE = default_site()
SECTIONS = ["world", "sport", "economy", "technology", "culture", "middle-east"]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("store-redis"), free_port())
    finally:
        group.stop_all()


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[list[ArticleStore]]:
    """Eight stores with their own connections, as eight render processes would have."""
    clients = [aioredis.from_url(redis_url) for _ in range(8)]
    await clients[0].flushdb()
    yield [ArticleStore(c, lambda e: SITE.section(category_of(e)).slug) for c in clients]
    for client in clients:
        await client.aclose()


def version(number: int) -> EnrichedArticle:
    article = sample_ar()[0].model_copy(
        update={"category": SECTIONS[number % len(SECTIONS)], "headline": f"v{number}"}
    )
    return EnrichedArticle(article=article, version=number, enriched_at=datetime.now(UTC))


async def test_concurrent_replicas_leave_the_newest_version_in_its_one_section(
    replicas: list[ArticleStore],
) -> None:
    versions = list(range(1, 61))
    random.Random(7).shuffle(versions)
    await asyncio.gather(
        *(
            replicas[i % len(replicas)].put_live(version(number))
            for i, number in enumerate(versions)
        )
    )
    stored = await replicas[0].get(sample_ar()[0].id)
    assert stored is not None and stored.version == 60 and stored.enriched is not None
    assert stored.enriched.article.headline == "v60"
    redis = replicas[0]._redis
    listed_in = [s for s in SECTIONS if await redis.zscore(section_key(s), stored.article_id)]
    assert listed_in == [SECTIONS[60 % len(SECTIONS)]]


async def test_a_withdrawal_racing_older_versions_wins(replicas: list[ArticleStore]) -> None:
    article_id = sample_ar()[0].id
    writes = [replicas[n % 8].put_live(version(n)) for n in range(1, 40)]
    writes.insert(17, replicas[3].put_withdrawn(article_id, 40))
    await asyncio.gather(*writes)
    stored = await replicas[0].get(article_id)
    assert stored is not None and (stored.status, stored.version) == ("withdrawn", 40)
    redis = replicas[0]._redis
    assert await redis.zscore(LATEST_KEY, article_id) is None
    assert not [s for s in SECTIONS if await redis.zscore(section_key(s), article_id)]
    applied = await replicas[1].put_live(version(40))  # same version after its withdrawal
    assert not applied.applied and applied.previous is not None


async def test_dependency_index_follows_what_each_fragment_shows(
    replicas: list[ArticleStore],
) -> None:
    store = replicas[0]
    await store.record_shows("page:a", ["a", "b", "c"])
    await store.record_shows("home", ["b", "d"])
    assert await store.dependents("b") == {"page:a", "home"}
    await store.record_shows("page:a", ["a", "c", "e"])
    assert await store.dependents("b") == {"home"}
    assert await store.dependents("e") == {"page:a"}
    await store.record_shows("home", [])
    assert not await store._redis.exists(shown_in_key("b"))
    assert await store.dependents("d") == set()
