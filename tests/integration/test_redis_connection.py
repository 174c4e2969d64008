"""The services' Redis connection: redis-py's, its writes bounded without a task per command."""

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError

from khabar_shared.redis_connection import Connection
from khabar_shared.redis_helpers import connect
from tests.conftest import Servers


async def test_a_command_is_sent_without_a_task_of_its_own(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py bounds every write with `asyncio.wait_for` (a task per command on Python
    3.11); the services' client sends a command in the caller's task (fails on main: one
    wait_for per command)."""
    bounded: list[Any] = []
    original = asyncio.wait_for

    async def counted(awaitable: Any, timeout: float | None) -> Any:
        bounded.append(timeout)
        return await original(awaitable, timeout)

    client = connect(servers.redis_url.rsplit("/", 1)[0] + "/14", cluster=False)
    try:
        await client.ping()  # connected before counting
        monkeypatch.setattr(asyncio, "wait_for", counted)
        await client.set("test:connection:k", b"v")
        assert await client.get("test:connection:k") == b"v"
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr("test:connection:n").delete("test:connection:n")
            assert (await pipe.execute())[1] == 1
    finally:
        monkeypatch.undo()
        await client.delete("test:connection:k")
        await client.aclose()
    assert bounded == []


async def test_a_write_the_server_never_reads_still_times_out() -> None:
    """A Redis that stops reading (hung, SIGSTOPped) fills the socket: the write waits, and
    gives up after the socket timeout with redis-py's error, as redis-py's own does."""
    accepted: list[asyncio.StreamWriter] = []

    async def never_read(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = aioredis.ConnectionPool(
        connection_class=Connection,
        host="127.0.0.1",
        port=port,
        socket_timeout=0.5,
        lib_name=None,  # no CLIENT SETINFO on connect: the first thing sent is the SET
        lib_version=None,
    )
    client = aioredis.Redis(connection_pool=pool)
    try:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(client.set("k", b"x" * (64 << 20)), 10)
    finally:
        await client.aclose()
        server.close()
        for writer in accepted:
            writer.close()
