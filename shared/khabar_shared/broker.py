"""The FastStream Redis broker every consumer service builds the same way."""

import logging
from typing import Any

from faststream.redis import RedisBroker, RedisClusterBroker
from faststream.redis.prometheus import RedisPrometheusMiddleware

from khabar_shared.metrics import REGISTRY
from khabar_shared.redis_helpers import cluster_enabled


def make_broker(
    redis_url: str, service: str, cluster: bool | None = None, graceful_timeout_s: float = 10.0
) -> RedisBroker:
    """A broker whose logs go through structlog and whose metrics land in REGISTRY.

    With `KHABAR_REDIS_CLUSTER` (or `cluster=True`) it is FastStream's
    `RedisClusterBroker`: stream subscribers read each stream from the node that
    holds its slot.
    """
    options: dict[str, Any] = {
        "logger": logging.getLogger(f"khabar.{service}.faststream"),
        # Per-message "Received"/"Processed" lines would drown our own event logs.
        "log_level": logging.DEBUG,
        "middlewares": [RedisPrometheusMiddleware(registry=REGISTRY, app_name=service)],
        # How long broker.stop() waits for handlers in flight (KHABAR_SHUTDOWN_GRACE_S).
        "graceful_timeout": graceful_timeout_s,
    }
    if cluster_enabled(cluster):
        return RedisClusterBroker(redis_url, **options)
    return RedisBroker(redis_url, **options)
