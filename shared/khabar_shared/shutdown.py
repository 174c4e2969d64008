"""Graceful shutdown of a consumer service, within `KHABAR_SHUTDOWN_GRACE_S`.

On SIGTERM uvicorn closes its HTTP side, then runs the app's shutdown, where a
consumer service calls `stop_consumers` instead of a bare `broker.stop()`:

1. `broker.stop()` stops every subscriber's reads and waits for the batches
   in flight (FastStream's own graceful wait, bounded here by what is left of
   the grace period);
2. each consumer's `drain` awaits its in-flight batches and handles the
   entries still pending on it: FastStream drops a batch it read just as it
   stopped, which would otherwise wait `claim_idle_ms` for another consumer.

Whatever is still unfinished when the grace period ends stays pending, unacked,
and is claimed by another consumer: slower, never lost.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from faststream.redis import RedisBroker

from khabar_shared.consumer import StreamConsumer
from khabar_shared.logging import get_logger

log = get_logger(__name__)


async def stop_consumers(
    broker: RedisBroker, consumers: Sequence[StreamConsumer[Any]], grace_s: float
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + grace_s
    log.info("shutdown_started", grace_s=grace_s)
    try:
        async with asyncio.timeout_at(deadline):
            await broker.stop()
    except TimeoutError:
        log.warning("broker_stop_timed_out", grace_s=grace_s)
    for consumer in consumers:
        await consumer.drain(max(deadline - loop.time(), 0.0))
    log.info("shutdown_finished", seconds=round(loop.time() - started, 3))
