"""The index's batch against a real Redis: its steps happen in their order, or not at all."""

from collections.abc import AsyncIterator, Iterator

import pytest

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_enrich.batch_view import BatchView
from khabar_enrich.index import RelatedIndex
from khabar_enrich.scoring import IndexedDoc
from khabar_enrich.settings import EnrichSettings
from khabar_enrich.stories import shingle_sketch
from khabar_shared.pipeline import Writes, key_reader, streamed
from khabar_shared.redis_helpers import RedisClient, connect

STRENGTHS = {"w:oil": 1.0, "w:price": 0.5, "e:opec": 2.0}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("index-batch-redis"), free_port())
    finally:
        group.stop_all()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect(redis_url, cluster=False)
    await client.flushdb()
    yield client
    await client.aclose()


def draft(article_id: str, published: float) -> IndexedDoc:
    return IndexedDoc(article_id, "en", published, {}, shingle_sketch(list(STRENGTHS)))


async def test_an_article_is_entered_matched_and_kept_in_the_batchs_order(
    redis: RedisClient, redis_url: str
) -> None:
    index = RelatedIndex(redis, EnrichSettings(redis_url=redis_url))
    writes = Writes()
    async with index.batch(writes, ["a", "b"], [STRENGTHS, STRENGTHS]) as batch:
        first = batch.enter(draft("a", 1.5e9), STRENGTHS, True)
        second = batch.enter(draft("b", 1.5e9 + 60), STRENGTHS, True)
        assert set(first.doc.terms) == set(STRENGTHS)  # weighed as it entered
        async with (
            streamed(redis, [first.commands(), second.commands()]) as replies,
            key_reader(redis) as reader,
        ):
            view = BatchView(reader, batch.before)
            found = [await replies.next() for _ in range(4)]
            with pytest.raises(RuntimeError, match="out of the batch's order"):
                await second.matches(found[2], view)  # before the first
            await first.matches(found[0], view)
            with pytest.raises(RuntimeError, match="out of the batch's order"):
                await second.matches(found[2], view)  # the first not kept yet
            with pytest.raises(RuntimeError, match="after the first replies"):
                batch.enter(draft("c", 1.5e9), STRENGTHS, True)
            first.keep(view)
            matches, _, _ = await second.matches(found[2], view)
            second.keep(view)
    assert [m.doc.article_id for m in matches] == ["a"]  # as the first left the index
    assert {k.decode() for k in await redis.keys("*:doc:*")} == {
        "khabar:{enrich}:doc:a",
        "khabar:{enrich}:doc:b",
    }


async def test_a_batch_left_before_its_steps_are_done_sends_none_of_its_writes(
    redis: RedisClient, redis_url: str
) -> None:
    index = RelatedIndex(redis, EnrichSettings(redis_url=redis_url))
    writes = Writes()
    with pytest.raises(RuntimeError, match="before each of its steps"):
        async with index.batch(writes, ["a"], [STRENGTHS]) as batch:
            entering = batch.enter(draft("a", 1.5e9), STRENGTHS, True)
            async with key_reader(redis) as reader:
                # No candidates: the reply is the read's cut and the reach's count.
                await entering.matches([b"0", 0], BatchView(reader, batch.before))
            writes.add("SET", "the-callers-write", "1")  # its story never kept
    assert await redis.keys("*") == []
