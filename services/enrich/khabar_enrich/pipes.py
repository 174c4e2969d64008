"""One pipeline per batch: writes wait in it and go out with the next read.

Each event of a batch must see the index as the events before it left it, so
their writes have to reach Redis before its reads. Queued on one pipeline in
order and sent together with the next read, they cost no round trip of their
own: Redis runs a connection's commands in the order they were sent.
"""

from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio.client import Pipeline

QueueReads = Callable[[Pipeline], None]

# MGET as a script: redis-py refuses MGET in a cluster pipeline, and the index's keys
# all share one slot (see `related.PREFIX`).
MGET_SCRIPT = "return redis.call('MGET', unpack(KEYS))"


def queue_mget(pipe: Pipeline, keys: Sequence[str]) -> None:
    """Queue reading `keys` (of one slot, at least one) in one command; None for a missing one."""
    pipe.eval(MGET_SCRIPT, len(keys), *keys)


async def read_after_writes(pipe: Pipeline, queue_reads: QueueReads) -> list[Any]:
    """Send what waits on `pipe` followed by the reads `queue_reads` queues; the reads' replies."""
    first = len(pipe)
    queue_reads(pipe)
    return (await pipe.execute())[first:]


async def flush(pipe: Pipeline) -> None:
    """Send the writes still waiting on `pipe`."""
    if len(pipe):
        await pipe.execute()
