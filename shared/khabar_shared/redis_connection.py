"""The services' Redis connection: redis-py's, with a write that makes no task of its own.

A transport module (like `pipeline` and `lane`): it drives the socket, so it is
one of the few places the Redis protocol's machinery may be named.
"""

import asyncio
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class Connection(aioredis.Connection):
    """redis-py's connection, a write bounded by `asyncio.timeout` in place of `asyncio.wait_for`.

    redis-py bounds every write by its socket timeout (5 s unless set) with
    `asyncio.wait_for`, which on Python 3.11 makes a task of every command sent:
    a visible share of a small command's client CPU. A write waits only when the socket
    does not take all of it at once (the transport keeps the rest); only then is
    it bounded, by `asyncio.timeout` in the caller's own task. What a timeout or a
    broken socket raises, and that the connection is dropped after it, are redis-py's
    (its `send_packed_command`).
    """

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self.socket_timeout:
            await super().send_packed_command(command, check_health)
            return
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        writer = self._writer
        assert writer is not None  # connected above
        try:
            writer.writelines(command)
            if writer.transport.get_write_buffer_size():
                async with asyncio.timeout(self.socket_timeout):
                    await writer.drain()  # may wait for the socket: bounded
            else:
                await writer.drain()  # all written: never waits, no timer needed
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as error:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error {error} while writing to socket.") from error
        except BaseException:
            await self.disconnect(nowait=True)
            raise
