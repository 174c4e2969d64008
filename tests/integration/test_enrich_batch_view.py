"""A batch's commands sent ahead, and its view of Redis while its writes wait (real Redis)."""

import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_enrich.batch_view import BatchView
from khabar_shared.pipeline import KeyReader, Writes, flush, key_reader, pack, streamed


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("batch-view-redis"), free_port())
    finally:
        group.stop_all()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client with a single connection: a connection reused with replies unread would show."""
    client = aioredis.Redis.from_url(redis_url, max_connections=1)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def reader(redis_url: str) -> AsyncIterator[KeyReader]:
    """The batch's reader of keys, on a connection of its own."""
    client = aioredis.Redis.from_url(redis_url)
    async with key_reader(client) as keys:
        yield keys
    await client.aclose()


async def eval_calls(redis: aioredis.Redis) -> int:
    return int((await redis.info("commandstats")).get("cmdstat_eval", {}).get("calls", 0))


async def test_the_view_answers_for_what_the_batch_wrote_and_redis_for_the_rest(
    redis: aioredis.Redis, reader: KeyReader
) -> None:
    await redis.mset({"doc:a": b"in redis", "doc:b": b"in redis", "doc:c": b"in redis"})
    view = BatchView(reader, {"doc:a": b"before the batch"})
    view.write("doc:b", None)  # removed by an earlier article of the batch
    assert await view.read(["doc:a", "doc:b", "doc:c"], [None] * 3) == [
        b"before the batch",
        None,
        b"in redis",
    ]


async def test_the_view_asks_redis_nothing_when_it_holds_every_key(
    redis: aioredis.Redis, reader: KeyReader
) -> None:
    view = BatchView(reader, {"doc:a": b"a"})
    view.write("links:b", b"[]", published=10.0)
    before = await eval_calls(redis)
    assert await view.read(["doc:a", "links:b"], [None, 10.0]) == [b"a", b"[]"]
    assert await eval_calls(redis) == before


async def test_a_started_read_is_on_its_way_before_it_is_awaited(
    redis: aioredis.Redis, reader: KeyReader
) -> None:
    await redis.set("doc:a", b"in redis")
    before = await eval_calls(redis)
    pending = await BatchView(reader).start_read(["doc:a"], [None])
    # The event loop is blocked on purpose: only a read already sent can have run meanwhile.
    time.sleep(0.2)  # noqa: ASYNC251
    assert await eval_calls(redis) == before + 1
    assert await pending == [b"in redis"]


async def test_a_trim_hides_older_copies_until_one_is_written_again(
    redis: aioredis.Redis, reader: KeyReader
) -> None:
    await redis.mset({"links:old": b"in redis", "links:new": b"in redis"})
    view = BatchView(reader)
    view.write("links:kept", b"written before the trim", published=50.0)
    view.trim(100.0)
    view.write("links:again", b"written after the trim", published=50.0)
    assert view.seen("links:kept", 50.0) == (True, None)
    assert view.seen("links:old", 100.0) == (True, None)  # trimmed in Redis: not asked
    assert view.seen("links:again", 50.0) == (True, b"written after the trim")
    assert view.seen("links:new", 150.0) == (False, None)  # published after: Redis holds it
    assert await view.read(["links:old", "links:new"], [100.0, 150.0]) == [None, b"in redis"]


async def test_streamed_replies_come_in_order_and_unread_ones_are_read_before_reuse(
    redis: aioredis.Redis,
) -> None:
    groups = [[("SET", "x", "1")], [("INCR", "x")], [("GET", "x")]]
    async with streamed(redis, groups, ahead=0) as replies:
        assert await replies.next() == b"OK"  # raw replies: no response callbacks
        assert await replies.next() == 2
    await redis.set("y", "fresh")
    assert await redis.get("y") == b"fresh"  # not the GET x reply left unread


async def test_streamed_sends_each_group_only_when_the_replies_before_it_are_near(
    redis: aioredis.Redis, redis_url: str
) -> None:
    groups = [[("SET", "x", "1")], [("INCR", "x")], [("INCR", "x")], [("INCR", "x")]]
    other = aioredis.Redis.from_url(redis_url)
    async with streamed(redis, groups, ahead=1) as replies:
        assert await replies.next() == b"OK"  # its group and the next one are sent
        assert await other.get("x") in (b"1", b"2")  # not the two after
        assert await replies.next() == 2
        assert await replies.next() == 3
    assert await other.get("x") == b"4"  # leaving reads the rest
    await other.aclose()


async def test_an_error_reply_raises_and_its_connection_is_never_reused(
    redis: aioredis.Redis,
) -> None:
    groups = [
        [("SET", "x", "1"), ("EVAL", "return redis.error_reply('broken')", 0)],
        [("GET", "x")],
    ]
    with pytest.raises(ResponseError, match="broken"):
        async with streamed(redis, groups) as replies:
            assert await replies.next() == b"OK"  # raw replies: no response callbacks
            await replies.next()
    await redis.set("y", "fresh")
    assert await redis.get("y") == b"fresh"
    assert await redis.get("x") == b"1"  # what ran before the error stays done


def test_pack_makes_the_bytes_redis_py_makes() -> None:
    command = ("EVAL", "return 1", 2, "k:عربي", b"raw", 0.1, 1e18, 1_500_000_000.25, -3, 1 / 3)
    assert pack([command, ("GET", "x")]) == b"".join(
        aioredis.Connection().pack_commands([command, ("GET", "x")])
    )


async def test_flush_sends_the_writes_in_order_and_an_error_raises_after_every_reply(
    redis: aioredis.Redis,
) -> None:
    writes = Writes()
    writes.add("SET", "x", 1)
    writes.add("INCR", "x")
    assert await flush(redis, writes) == [b"OK", 2]  # raw replies
    assert len(writes) == 0
    writes.add("EVAL", "return redis.error_reply('broken')", 0)
    writes.add("INCR", "x")
    with pytest.raises(ResponseError, match="broken"):
        await flush(redis, writes)
    assert await redis.get("x") == b"3"  # the connection read every reply: reusable
