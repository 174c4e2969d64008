"""The FastStream Redis broker every consumer service builds the same way."""

import asyncio
import logging
import time
from typing import Any

from faststream.redis import RedisBroker, RedisClusterBroker
from faststream.redis.prometheus import RedisPrometheusMiddleware
from redis.asyncio import Redis

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
    logger.addFilter(RedisOutageLog(service, redis_url))
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

    def __init__(self, service: str, redis_url: str) -> None:
        super().__init__()
        self.service = service
        self.redis_url = redis_url
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
        client = Redis.from_url(
            self.redis_url, socket_connect_timeout=PROBE_INTERVAL_S, socket_timeout=PROBE_INTERVAL_S
        )
        try:
            while True:
                await asyncio.sleep(PROBE_INTERVAL_S)
                try:
                    await client.ping()
                    break
                except Exception:  # noqa: BLE001, S112 (still away: ask again)
                    continue
        finally:
            await client.aclose()
        log.info(
            "redis_reachable_again",
            service=self.service,
            down_s=round(time.monotonic() - self.since, 1),
            failed_reads=self.failed_reads,
        )
