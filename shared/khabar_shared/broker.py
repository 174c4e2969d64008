"""The FastStream Redis broker every consumer service builds the same way."""

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from faststream.redis import RedisBroker, RedisClusterBroker
from faststream.redis.prometheus import RedisPrometheusMiddleware
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from khabar_shared.logging import get_logger
from khabar_shared.metrics import REGISTRY
from khabar_shared.outages import is_outage
from khabar_shared.redis_helpers import cluster_enabled

log = get_logger(__name__)

# What FastStream's read loops log, at error level with a traceback, each time a read fails
# (then they wait and read again).
FETCH_ERROR = "Message fetch error"
# How often Redis is asked whether it answers again, once a read failed for its outage.
PROBE_INTERVAL_S = 1.0
# Backoff of a read loop restarted after an outage escaped it (see `keep_reading`).
RESTART_FIRST_S = 0.05
RESTART_MAX_S = 1.0


def make_broker(
    redis_url: str, service: str, cluster: bool | None = None, graceful_timeout_s: float = 10.0
) -> RedisBroker:
    """A broker whose logs go through structlog and whose metrics land in REGISTRY.

    With `KHABAR_REDIS_CLUSTER` (or `cluster=True`) it is FastStream's
    `RedisClusterBroker`: stream subscribers read each stream from the node that
    holds its slot.
    """
    logger = logging.getLogger(f"khabar.{service}.faststream")
    for old in [f for f in logger.filters if isinstance(f, RedisOutageLog)]:
        logger.removeFilter(old)
    logger.addFilter(RedisOutageLog(service, redis_url, cluster_enabled(cluster)))
    options: dict[str, Any] = {
        "logger": logger,
        # Per-message "Received"/"Processed" lines would drown our own event logs.
        "log_level": logging.DEBUG,
        "middlewares": [RedisPrometheusMiddleware(registry=REGISTRY, app_name=service)],
        # How long broker.stop() waits for handlers in flight (KHABAR_SHUTDOWN_GRACE_S).
        "graceful_timeout": graceful_timeout_s,
    }
    if cluster_enabled(cluster):
        return RedisClusterBroker(redis_url, **options)
    return RedisBroker(redis_url, **options)


class RedisOutageLog(logging.Filter):
    """A Redis outage as two events of our own, where FastStream logs a flood of errors.

    Every subscriber's read loop logs FETCH_ERROR with a traceback at each retry while
    Redis is down: an outage, expected and waited out, read as a stream of failures. The
    first such record of an outage becomes one warning, `redis_unreachable`; the rest are
    dropped (counted) until Redis answers a PING again: then `redis_reachable_again` says
    how long it was away and how many reads failed. A fetch error that is not an outage
    (a bug, a refused command) passes through as FastStream wrote it.
    """

    def __init__(self, service: str, redis_url: str, cluster: bool = False) -> None:
        super().__init__()
        self.service = service
        self.redis_url = redis_url
        self.cluster = cluster
        self.failed_reads = 0
        self.since = 0.0
        self._probe: asyncio.Task[None] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or record.msg != FETCH_ERROR or not is_outage(error):
            return True
        self.failed_reads += 1
        if self._probe is None or self._probe.done():
            self._outage_began(error)
        return False

    def _outage_began(self, error: BaseException) -> None:
        self.failed_reads, self.since = 1, time.monotonic()
        log.warning(
            "redis_unreachable",
            service=self.service,
            error=str(error)[:300],
            error_type=type(error).__name__,
        )
        try:
            self._probe = asyncio.get_running_loop().create_task(self._until_answered())
        except RuntimeError:  # no loop running: no one to say when it is back
            self._probe = None

    async def _until_answered(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            if await redis_answers(self.redis_url, self.cluster):
                break
        log.info(
            "redis_reachable_again",
            service=self.service,
            down_s=round(time.monotonic() - self.since, 1),
            failed_reads=self.failed_reads,
        )


async def redis_answers(url: str, cluster: bool = False) -> bool:
    """Whether Redis answers as the stream reads need it: the URL's server, or on a
    Redis Cluster every primary (the URL names one node of it; the stream a consumer
    reads may live on any other, and that one may be the one away)."""
    options: dict[str, Any] = {
        "socket_connect_timeout": PROBE_INTERVAL_S,
        "socket_timeout": PROBE_INTERVAL_S,
    }
    client: Redis | RedisCluster | None = None
    try:
        if cluster:
            client = RedisCluster.from_url(url, **options)
            await client.ping(target_nodes=RedisCluster.PRIMARIES)
        else:
            client = Redis.from_url(url, **options)
            await client.ping()
        return True
    except Exception:  # noqa: BLE001 (still away, whatever it says)
        return False
    finally:
        if client is not None:
            await client.aclose()


def keep_reading(subscriber: Any) -> None:
    """Make a stream subscriber's read loop wait out a Redis outage instead of dying of it.

    FastStream's loop logs and retries most failed reads, but two escape it:
    its first PING, before the loop (a Redis still loading its data answers
    LOADING), and any reply error but NOGROUP (a blocked read is answered
    UNBLOCKED when its stream vanishes while Redis reloads). Escaped, the task
    dies and FastStream's supervisor starts it again at once, with an error and
    a traceback each time: hundreds a second for as long as Redis loads. Here
    the loop is started again after a backoff, and the failure is logged as
    FastStream logs a failed read (`FETCH_ERROR`), so `RedisOutageLog` makes
    one warning of the whole outage. Anything else still escapes, as before.
    """
    consume: Callable[..., Coroutine[Any, Any, None]] = subscriber._consume

    async def consume_through_outages(*args: Any, **kwargs: Any) -> None:
        delay_s = RESTART_FIRST_S
        while subscriber.running:
            try:
                await consume(*args, **kwargs)
                return
            except Exception as error:
                if not is_outage(error):
                    raise
                start_signal = kwargs.get("start_signal")
                if start_signal is not None:
                    start_signal.set()  # the broker's start waits on it; the loop is running
                subscriber._log(log_level=logging.ERROR, message=FETCH_ERROR, exc_info=error)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RESTART_MAX_S)

    subscriber._consume = consume_through_outages
