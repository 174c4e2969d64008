"""Commands sent to Redis ahead of their replies: the one module that packs the Redis protocol.

Every service that sends more than a redis-py pipeline does goes through
here; it alone asks whether `connect` gave one Redis or a cluster client.

- `streamed`: groups of commands (enrich: a batch's articles, each its
  candidates read and its index write) that depend on one another's order
  only, not on one another's replies. They go out on one connection, where
  Redis runs them in the order sent, a couple of groups ahead of the caller,
  who works on one group's replies while Redis already runs the next: Redis's
  time is hidden behind Python's, and no group waits for a round trip of its
  own.
- `key_reader`: the few reads a batch makes besides (a refresh's, see
  enrich's `fanout.py`), on a second connection of the batch's own, sent
  before the caller goes on working and awaited after.
- `Writes` and `flush`: commands kept until a batch's end, sent in one write;
  `send`: such commands sent at once (render's reads of a page's articles, a
  consumer's acks and dead letters, in a transaction where asked).
- `queue`: a registered Lua script queued on a redis-py pipeline.
- `send_in_order`: commands made one after another (ingest: a batch's
  ACCEPT calls), each sent as soon as it is made, the replies read at the
  end: Redis runs one while the caller makes the next.

A cluster client gets each as one redis-py pipeline (it routes each command
to its node), its replies handed out afterwards. Commands are plain tuples,
packed by hiredis (see `pack`).
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import hiredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import Connection
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from khabar_shared.lua import ScriptRegistry
from khabar_shared.redis_helpers import RedisClient

MGET_SCRIPT = ScriptRegistry("khabar_shared")["mget"]

# One Redis command: its name and arguments.
Command = tuple[Any, ...]
# Groups (a batch's articles) sent before their replies are read. Enough to keep Redis busy while
# Python works on an article (Redis runs an article's commands faster than Python handles it),
# few enough that a read on another connection (a refresh's) does not queue behind a long
# backlog of them (such a read takes longer with each article sent ahead beyond two).
AHEAD = 2


def pack(commands: Iterable[Command]) -> bytes:
    """The commands in the Redis protocol: the very bytes redis-py's packer makes, made in C
    (redis-py's Python packer cost twice the CPU, mostly for the events' XADDs)."""
    return b"".join(map(hiredis.pack_command, commands))


class Replies(Protocol):
    async def next(self) -> Any:
        """The next command's reply, in the order the commands were sent."""
        ...


class _ConnectionReplies:
    """Replies read from a connection of our own, the groups of commands sent `ahead` at a time."""

    def __init__(
        self, connection: Connection, groups: Sequence[Sequence[Command]], ahead: int
    ) -> None:
        self._connection = connection
        self._groups = groups
        self._ahead = ahead
        self._sent = 0  # groups sent so far
        self._unread: deque[int] = deque()  # the group of each reply still to read, in order

    @property
    def unread(self) -> int:
        return len(self._unread)

    async def next(self) -> Any:
        if not self._unread:
            await self._send_until(self._sent + 1)
        if not self._unread:
            raise IndexError("every reply was read")
        # Reading a group's replies: the next `ahead` groups go out, for Redis to run meanwhile.
        await self._send_until(self._unread[0] + 1 + self._ahead)
        self._unread.popleft()
        return await self._connection.read_response()

    async def _send_until(self, end: int) -> None:
        end = min(end, len(self._groups))
        if end <= self._sent:
            return
        commands = [command for group in self._groups[self._sent : end] for command in group]
        for group in range(self._sent, end):
            self._unread.extend([group] * len(self._groups[group]))
        self._sent = end
        await self._connection.send_packed_command(pack(commands))


class _ListReplies:
    def __init__(self, replies: list[Any]) -> None:
        self._replies = iter(replies)

    async def next(self) -> Any:
        return next(self._replies)


@asynccontextmanager
async def streamed(
    redis: RedisClient, groups: Sequence[Sequence[Command]], ahead: int = AHEAD
) -> AsyncIterator[Replies]:
    """Send the `groups` of commands (all of one slot) in order; their replies, one at a time.

    On a single Redis they go out on a connection of their own: while the
    caller reads one group's replies, the next `ahead` groups are sent, so
    Redis runs them while the caller works. An error reply raises when its
    reply is read; a connection left with replies unread is closed, never
    reused. Groups not reached when the caller leaves are never sent.
    """
    if not groups:
        yield _ListReplies([])
        return
    if isinstance(redis, RedisCluster):
        async with redis.pipeline(transaction=False) as pipe:
            for group in groups:
                for command in group:
                    pipe.execute_command(*command)
            yield _ListReplies(await pipe.execute())
        return
    pool = redis.connection_pool
    connection = await pool.get_connection()
    try:
        replies = _ConnectionReplies(connection, groups, ahead)
        yield replies
        while replies.unread:
            await replies.next()
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


class KeyReader(Protocol):
    async def send_mget(self, keys: Sequence[str]) -> Awaitable[list[bytes | None]]:
        """Send a read of `keys` (of one slot); when this returns it is on its way, and the
        awaitable returned gives the values (None for a missing key). One read at a time."""
        ...

    async def send_command(self, command: Command) -> Awaitable[Any]:
        """Send one read-only command (a script's, say); likewise, its reply awaited after."""
        ...


class _ConnectionReader:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def send_mget(self, keys: Sequence[str]) -> Awaitable[list[bytes | None]]:
        await self._connection.send_packed_command(pack([MGET_SCRIPT.command(keys, ())]))
        return self._connection.read_response()

    async def send_command(self, command: Command) -> Awaitable[Any]:
        await self._connection.send_packed_command(pack([command]))
        return self._connection.read_response()


class _ClientReader:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def send_mget(self, keys: Sequence[str]) -> Awaitable[list[bytes | None]]:
        return asyncio.ensure_future(self._redis.eval(MGET_SCRIPT.source, len(keys), *keys))

    async def send_command(self, command: Command) -> Awaitable[Any]:
        return asyncio.ensure_future(self._redis.execute_command(*command))


@asynccontextmanager
async def key_reader(redis: RedisClient) -> AsyncIterator[KeyReader]:
    """Reads of a few keys at a time, on a connection of their own for the batch (a cluster
    client: through the client)."""
    if isinstance(redis, RedisCluster):
        yield _ClientReader(redis)
        return
    pool = redis.connection_pool
    connection = await pool.get_connection()
    try:
        yield _ConnectionReader(connection)
    except BaseException:
        await connection.disconnect()  # a read cut off may leave its reply on the way
        raise
    finally:
        await pool.release(connection)


class Writes:
    """Commands queued to go to Redis together, in order (see `flush`): a batch's writes, kept
    until its end. Plain tuples: a redis-py pipeline's command objects and packing cost more
    than the commands themselves."""

    def __init__(self) -> None:
        self._commands: list[Command] = []

    def add(self, *command: Any) -> None:
        self._commands.append(command)

    def __len__(self) -> int:
        return len(self._commands)

    def take(self) -> list[Command]:
        """The commands queued, in order; none is left queued."""
        commands, self._commands = self._commands, []
        return commands


async def flush(redis: RedisClient, writes: Writes, transaction: bool = False) -> list[Any]:
    """Send the commands waiting on `writes` in one write (see `send`)."""
    return await send(redis, writes.take(), transaction)


async def send(redis: RedisClient, commands: list[Command], transaction: bool = False) -> list[Any]:
    """Send `commands` in one write; their raw replies, in order (no response callbacks). An
    error reply raises once every reply is read, as a redis-py pipeline does; a connection cut
    off meanwhile is closed, never reused. `transaction`: all of them or none (MULTI/EXEC; on a
    cluster, all keys must then share a slot).

    A cluster client's replies pass through redis-py's response callbacks (its pipeline
    applies them): read only replies those leave alike (GET, HMGET, ZCARD, ZRANGE without
    scores, scripts; SMEMBERS a list or a set), or a plain redis-py pipeline is the right tool.
    """
    if not commands:
        return []
    if isinstance(redis, RedisCluster):  # it routes each command to its node
        async with redis.pipeline(transaction=transaction) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute()
    if transaction:
        commands = [("MULTI",), *commands, ("EXEC",)]
    pool = redis.connection_pool
    connection = await pool.get_connection()
    try:
        await connection.send_packed_command(pack(commands))
        replies = [await _reply(connection) for _ in commands]
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
    if transaction:  # MULTI's OK, a QUEUED each, then EXEC's reply: the commands' replies
        replies = replies[-1] if isinstance(replies[-1], list) else [replies[-1]]
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies


async def _reply(connection: Connection) -> Any:
    """The next reply, an error reply as its exception (the rest must still be read)."""
    try:
        return await connection.read_response()
    except ResponseError as error:
        return error


async def send_in_order(redis: RedisClient, commands: Iterable[Command]) -> list[Any]:
    """Send each command as soon as `commands` makes it, all on one connection, in order; their
    raw replies, in order, read once the last is sent (a cluster client: one pipeline).

    `commands` may be lazy: the next is taken only once the one before is on
    its way, so making it overlaps Redis running the one before. A dropped
    connection is retried as redis-py retries any command: every command sent
    so far is sent again, so each must be safe to repeat. An error reply
    raises; the connection is then closed, never reused.
    """
    if isinstance(redis, RedisCluster):
        async with redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute()
    pool = redis.connection_pool
    connection = await pool.get_connection()
    sent: list[bytes] = []

    async def send_and_read() -> list[Any]:
        for packed in sent:
            await connection.send_packed_command(packed, check_health=False)
        for command in commands:
            sent.append(hiredis.pack_command(command))
            await connection.send_packed_command(sent[-1], check_health=len(sent) == 1)
        return [await connection.read_response() for _ in sent]

    try:
        return await connection.retry.call_with_retry(
            send_and_read, lambda _: connection.disconnect()
        )
    except BaseException:
        await connection.disconnect()  # replies may still be on their way: never reuse it
        raise
    finally:
        await pool.release(connection)


async def queue(
    pipe: Pipeline | ClusterPipeline, script: AsyncScript, keys: list[Any], args: list[Any]
) -> None:
    """Queue a registered script on a pipeline, on one Redis or on a cluster.

    A cluster pipeline refuses EVALSHA; it gets EVAL of the same source, which
    Redis caches just the same.
    """
    if isinstance(pipe, ClusterPipeline):
        pipe.eval(cast(str, script.script), len(keys), *keys, *args)  # registered from a str
    else:
        await script(keys=keys, args=args, client=pipe)
