"""One pipeline per batch: writes wait in it and go out with the next read.

Each event of a batch must see the index as the events before it left it, so
their writes have to reach Redis before its reads. Queued on one pipeline in
order and sent together with the next read, they cost no round trip of their
own: Redis runs a connection's commands in the order they were sent.
"""

from collections.abc import Callable
from typing import Any

from redis.asyncio.client import Pipeline

QueueReads = Callable[[Pipeline], None]


async def read_after_writes(pipe: Pipeline, queue_reads: QueueReads) -> list[Any]:
    """Send what waits on `pipe` followed by the reads `queue_reads` queues; the reads' replies."""
    first = len(pipe)
    queue_reads(pipe)
    return (await pipe.execute())[first:]


async def flush(pipe: Pipeline) -> None:
    """Send the writes still waiting on `pipe`."""
    if len(pipe):
        await pipe.execute()
