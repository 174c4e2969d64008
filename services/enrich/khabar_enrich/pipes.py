"""A batch's index commands, sent at once; their replies read as Redis makes them.

Each article of a batch must see the index as the articles before it left
it. Its index commands (the candidates read, then its own index write) do not
depend on what the articles before it found, only on their order: all of the
batch's are sent together on one connection, where Redis runs them in the
order sent. The handler works on an article's candidates while Redis is
already running the next article's: Redis's time is hidden behind Python's,
and the batch costs one round trip instead of one or two per article. (A
cluster client sends them as one pipeline and hands the replies out
afterwards.) What the batch writes besides waits until its end (see
`batch_view.py`).
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection

from khabar_shared.redis_helpers import RedisClient

# MGET as a script: redis-py refuses MGET in a cluster pipeline, and the index's keys
# all share one slot (see `related.PREFIX`).
MGET_SCRIPT = "return redis.call('MGET', unpack(KEYS))"

# One Redis command: its name and arguments.
Command = tuple[Any, ...]


class Replies(Protocol):
    async def next(self) -> Any:
        """The next command's reply, in the order the commands were sent."""
        ...


class _ConnectionReplies:
    def __init__(self, connection: Connection, count: int) -> None:
        self._connection = connection
        self.unread = count

    async def next(self) -> Any:
        if not self.unread:
            raise IndexError("every reply was read")
        self.unread -= 1
        return await self._connection.read_response()


class _ListReplies:
    def __init__(self, replies: list[Any]) -> None:
        self._replies = iter(replies)

    async def next(self) -> Any:
        return next(self._replies)


@asynccontextmanager
async def streamed(redis: RedisClient, commands: Sequence[Command]) -> AsyncIterator[Replies]:
    """Send `commands` (of one slot) at once; their replies, read one at a time.

    On a single Redis they go out on a connection of their own, whose replies
    arrive while the caller works. An error reply raises when its reply is
    read; a connection left with replies unread is closed, never reused.
    """
    if not commands:
        yield _ListReplies([])
        return
    if isinstance(redis, RedisCluster):
        async with redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            yield _ListReplies(await pipe.execute())
        return
    pool = redis.connection_pool
    connection = await pool.get_connection()
    try:
        replies = _ConnectionReplies(connection, len(commands))
        await connection.send_packed_command(connection.pack_commands(commands))
        yield replies
        while replies.unread:
            await replies.next()
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


async def flush(pipe: Pipeline) -> None:
    """Send the writes still waiting on `pipe`."""
    if len(pipe):
        await pipe.execute()
