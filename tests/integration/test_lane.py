"""`khabar_shared.lane`: many callers' commands on one connection, each given its own reply."""

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_shared.lane import KEEPALIVE_IDLE_S, RedisLane, lane_for, lane_reply
from khabar_shared.redis_helpers import connect


@pytest.fixture(scope="module")
def lane_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("lane-redis"), free_port())
    finally:
        group.stop_all()


def with_lane(url: str, body: Callable[[RedisLane, Any], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        client = redis.asyncio.Redis.from_url(url)
        lane = lane_for(client)
        assert lane is not None
        try:
            return await body(lane, client)
        finally:
            await lane.aclose()
            await client.aclose()

    return asyncio.run(run())


def test_callers_at_once_share_one_connection_each_with_its_own_reply(lane_redis: str) -> None:
    sync = redis.Redis.from_url(lane_redis)
    sync.mset({f"lane:{n}": f"value {n}" for n in range(200)})

    async def body(lane: RedisLane, _: Any) -> list[Any]:
        return await asyncio.gather(*(lane.call("GET", f"lane:{n}") for n in range(200)))

    assert with_lane(lane_redis, body) == [f"value {n}".encode() for n in range(200)]


def test_an_error_reply_raises_for_its_caller_only(lane_redis: str) -> None:
    redis.Redis.from_url(lane_redis).set("lane:text", "x")

    async def body(lane: RedisLane, _: Any) -> list[Any]:
        return await asyncio.gather(
            lane.call("GET", "lane:text"),
            lane.call("INCR", "lane:text"),
            lane.call("GET", "lane:text"),
            return_exceptions=True,
        )

    first, error, last = with_lane(lane_redis, body)
    assert first == last == b"x"
    assert isinstance(error, ResponseError) and "not an integer" in str(error)


def test_a_caller_that_gives_up_leaves_the_next_reply_to_the_next_caller(lane_redis: str) -> None:
    redis.Redis.from_url(lane_redis).set("lane:after", "after")

    async def body(lane: RedisLane, _: Any) -> Any:
        slow = asyncio.ensure_future(lane.call("BLPOP", "lane:empty", 0.3))
        await asyncio.sleep(0.05)
        slow.cancel()
        return await lane.call("GET", "lane:after")

    assert with_lane(lane_redis, body) == b"after"


def test_a_lost_connection_fails_its_callers_and_the_next_call_connects_again(
    lane_redis: str,
) -> None:
    sync = redis.Redis.from_url(lane_redis)
    sync.set("lane:again", "again")

    async def body(lane: RedisLane, client: Any) -> tuple[BaseException | None, Any]:
        await lane.call("CLIENT", "SETNAME", "the-lane")
        waiting = asyncio.ensure_future(lane.call("BLPOP", "lane:never", 5))
        await asyncio.sleep(0.05)
        for entry in await client.client_list():
            if entry["name"] == "the-lane":
                await client.execute_command("CLIENT", "KILL", "ID", entry["id"])
        try:
            await waiting
            lost = None
        except RedisConnectionError as error:
            lost = error
        return lost, await lane.call("GET", "lane:again")

    lost, again = with_lane(lane_redis, body)
    assert isinstance(lost, RedisConnectionError)
    assert again == b"again"


def test_the_database_in_the_url_is_the_one_read(lane_redis: str) -> None:
    other = lane_redis.rsplit("/", 1)[0] + "/3"
    redis.Redis.from_url(other).set("lane:db", "three")
    redis.Redis.from_url(lane_redis).set("lane:db", "zero")

    async def body(lane: RedisLane, _: Any) -> Any:
        return await lane.call("GET", "lane:db")

    assert with_lane(other, body) == b"three"


def test_a_password_is_sent_before_any_command(tmp_path: Path) -> None:
    group = ProcessGroup()
    try:
        url = start_redis(group, tmp_path / "redis", free_port())
        redis.Redis.from_url(url).config_set("requirepass", "s3cret")
        guarded = url.replace("redis://", "redis://:s3cret@")
        redis.Redis.from_url(guarded).set("lane:guarded", "in")

        async def body(lane: RedisLane, _: Any) -> Any:
            return await lane.call("GET", "lane:guarded")

        assert with_lane(guarded, body) == b"in"
        with pytest.raises(ResponseError):
            with_lane(url, body)
    finally:
        group.stop_all()


def test_a_redis_that_does_not_answer_is_a_connection_error() -> None:
    async def run() -> None:
        lane = RedisLane(host="127.0.0.1", port=free_port())
        with pytest.raises(RedisConnectionError):
            await lane.call("PING")

    asyncio.run(run())


def test_a_cluster_or_tls_client_gets_no_lane() -> None:
    assert lane_for(redis.asyncio.Redis.from_url("rediss://127.0.0.1:1/0")) is None
    assert lane_for(object()) is None  # type: ignore[arg-type]


def test_its_tcp_connection_probes_a_silent_redis(lane_redis: str) -> None:
    """The pool's clients ping a connection idle a while; the lane's socket has keepalive on,
    so a Redis host gone without a reset fails the waiting reads instead of holding them."""

    async def body(lane: RedisLane, _: Any) -> tuple[int, int]:
        await lane.call("PING")
        protocol = lane.connected()
        assert protocol is not None and protocol._transport is not None
        sock = protocol._transport.get_extra_info("socket")
        return (
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        )

    keepalive, idle = with_lane(lane_redis, body)
    assert keepalive == 1
    assert idle == KEEPALIVE_IDLE_S


def test_send_now_writes_at_once_and_its_reply_is_awaited_later(lane_redis: str) -> None:
    """For reads on two Redis servers at once (render's fragment and tombstone): each
    command written before any reply is awaited, without reaching into the connection."""
    redis.Redis.from_url(lane_redis).set("lane:later", "kept")

    async def body(lane: RedisLane, _: Any) -> list[Any]:
        first = await lane.send_now("GET", "lane:later")  # connects, then writes
        second = await lane.send_now("INCR", "lane:later")  # an error reply, raised on reading
        third = await lane.send_now("STRLEN", "lane:later")
        assert not first.done() or first.result() == b"kept"
        replies = []
        for sent in (third, first, second):  # awaited in any order: each gets its own reply
            try:
                replies.append(lane_reply(await sent))
            except ResponseError as error:
                replies.append(type(error))
        return replies

    assert with_lane(lane_redis, body) == [4, b"kept", ResponseError]


def test_the_services_own_client_gets_a_lane(lane_redis: str) -> None:
    """`connect` gives the services' connection class; render's fast path must still get its
    lane on it (a lane refused for it sent every cached read back through redis-py)."""

    async def run() -> None:
        client = connect(lane_redis)
        lane = lane_for(client)
        assert lane is not None
        try:
            assert await lane.call("PING") == b"PONG"
        finally:
            await lane.aclose()
            await client.aclose()

    asyncio.run(run())
