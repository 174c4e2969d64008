"""One connection to a Redis shared by many callers: commands written at once, replies in order.

For reads on a hot path (render's cached fragments as the edge's origin). A
redis-py call takes a connection from the pool, goes through its retry, timeout
and observability wrappers, packs its command in Python and gives the
connection back: several times the CPU of the read itself, which cost render
more per request than the rest of its answer. Here a read is one
`transport.write` and a future: callers' commands go out on one connection as
they come, Redis runs them in the order it reads them and answers in that
order, so each reply goes to the oldest caller still waiting. Redis reads many
of them in one read, which spares it a system call per command as well.

Only plain TCP and Unix-socket connections (with the URL's user, password and
database); `lane_for` gives None for anything else (a cluster client, TLS),
and the caller keeps using redis-py. The connection is made when first
needed and again after it is lost; a loss fails every call waiting on it
with redis-py's `ConnectionError`, an error reply raises `ResponseError`
(`NoScriptError` for NOSCRIPT), as redis-py would. No per-call timeout,
like the clients `connect` makes (redis-py's default: none). Those clients
ping a connection idle for a while before using it; a lane is never idle on
the hot path, so instead its TCP connection keeps TCP keepalive probes on: a
Redis host gone silently (no reset) fails the waiting callers within
`KEEPALIVE_IDLE_S + KEEPALIVE_COUNT * KEEPALIVE_INTERVAL_S` instead of
holding them until the kernel's default two hours.
"""

import asyncio
import socket
from collections import deque
from typing import Any

import hiredis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from khabar_shared.pipeline import Command, pack
from khabar_shared.redis_connection import Connection as ServiceConnection
from khabar_shared.redis_helpers import RedisClient

KEEPALIVE_IDLE_S = 30
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_COUNT = 3


def keep_alive(sock: socket.socket) -> None:
    """TCP keepalive on `sock`, with the idle time and probes above where the OS lets us."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
    ):
        if hasattr(socket, option):  # Linux has all three; others keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


class _LaneProtocol(asyncio.Protocol):
    """The connection's replies handed to its callers in the order their commands were written."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._reader = hiredis.Reader()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as error:
                self._fail(RedisConnectionError(f"Redis protocol error: {error}"))
                return
            if reply is False:  # no whole reply yet (a Lua false arrives as None)
                return
            waiter = self._waiting.popleft()
            if not waiter.done():  # a caller cancelled still had its reply on the way
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def _fail(self, error: Exception) -> None:
        if self.lost is None:
            self.lost = error
        if self._transport is not None:
            self._transport.close()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def send(self, packed: bytes) -> "asyncio.Future[Any]":
        """Write one command; the future gets its reply (an error reply as it is)."""
        if self.lost is not None or self._transport is None:
            raise self.lost or RedisConnectionError("not connected to Redis")
        waiter = self.loop.create_future()
        self._transport.write(packed)
        self._waiting.append(waiter)
        return waiter

    def close(self) -> None:
        self._fail(RedisConnectionError("lane closed"))


def lane_reply(reply: Any) -> Any:
    """A reply, or the exception redis-py raises for it when it is an error reply."""
    if isinstance(reply, hiredis.ReplyError):
        message = str(reply)
        raise NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)
    return reply


class RedisLane:
    """Commands of many callers on one connection (see the module's doc)."""

    def __init__(
        self,
        *,
        host: str = "",
        port: int = 6379,
        path: str = "",
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self._host, self._port, self._path = host, port, path
        self._db, self._username, self._password = db, username, password
        self._connect_timeout = connect_timeout
        self._protocol: _LaneProtocol | None = None
        self._making: asyncio.Task[_LaneProtocol] | None = None

    def connected(self) -> _LaneProtocol | None:
        """The live connection of this event loop, if there is one (no await: the hot path)."""
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            return None
        if protocol.loop is not asyncio.get_running_loop():
            return None
        return protocol

    async def connection(self) -> _LaneProtocol:
        """The live connection, made (once, whoever else asks meanwhile) when there is none."""
        protocol = self.connected()
        if protocol is not None:
            return protocol
        loop = asyncio.get_running_loop()
        making = self._making
        if making is None or making.get_loop() is not loop or making.done():
            making = self._making = loop.create_task(self._connect(loop))
        # Shielded: a caller that gives up must not cut the others' connection short.
        return await asyncio.shield(making)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _LaneProtocol:
        try:
            protocol = await asyncio.wait_for(self._handshake(loop), self._connect_timeout)
        except TimeoutError as error:
            raise RedisConnectionError("timed out connecting to Redis") from error
        self._protocol = protocol
        return protocol

    async def _handshake(self, loop: asyncio.AbstractEventLoop) -> _LaneProtocol:
        try:
            if self._path:
                _, protocol = await loop.create_unix_connection(
                    lambda: _LaneProtocol(loop), self._path
                )
            else:
                transport, protocol = await loop.create_connection(
                    lambda: _LaneProtocol(loop), self._host, self._port
                )
                keep_alive(transport.get_extra_info("socket"))
        except OSError as error:
            raise RedisConnectionError(f"cannot connect to Redis: {error}") from error
        setup: list[Command] = []
        if self._password is not None:
            auth = (self._username, self._password) if self._username else (self._password,)
            setup.append(("AUTH", *auth))
        if self._db:
            setup.append(("SELECT", self._db))
        try:
            for command in setup:
                lane_reply(await protocol.send(pack([command])))
        except BaseException:
            protocol.close()
            raise
        return protocol

    async def call(self, *command: Any) -> Any:
        """One command's reply (an error reply raised as redis-py raises it)."""
        return await self.call_packed(pack([command]))

    async def call_packed(self, packed: bytes) -> Any:
        protocol = self.connected() or await self.connection()
        return lane_reply(await protocol.send(packed))

    async def send_now(self, *command: Any) -> "asyncio.Future[Any]":
        """Write one command now (connecting first if need be) and hand back its reply to await
        later: commands on several lanes all on their way before any reply is awaited, one
        round trip's wait instead of one each. The reply is as Redis sent it: `lane_reply`
        raises an error reply."""
        protocol = self.connected() or await self.connection()
        return protocol.send(pack([command]))

    async def aclose(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None


def lane_for(redis: RedisClient) -> RedisLane | None:
    """A lane to the Redis (and database) `redis` talks to, or None when it cannot be one.

    A cluster client has no single pool; a TLS or other connection class is
    left to redis-py, which knows how to make it.
    """
    pool = getattr(redis, "connection_pool", None)
    plain = (Connection, ServiceConnection, UnixDomainSocketConnection)
    if pool is None or pool.connection_class not in plain:
        return None
    kwargs = pool.connection_kwargs
    return RedisLane(
        host=str(kwargs.get("host", "localhost")),
        port=int(kwargs.get("port", 6379)),
        path=str(kwargs.get("path", ""))
        if pool.connection_class is UnixDomainSocketConnection
        else "",
        db=int(kwargs.get("db", 0) or 0),
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        connect_timeout=kwargs.get("socket_connect_timeout"),
    )
