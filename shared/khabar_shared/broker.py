"""The FastStream Redis broker every consumer service builds the same way."""

import logging

from faststream.redis import RedisBroker
from faststream.redis.prometheus import RedisPrometheusMiddleware

from khabar_shared.metrics import REGISTRY


def make_broker(redis_url: str, service: str) -> RedisBroker:
    """A broker whose logs go through structlog and whose metrics land in REGISTRY."""
    return RedisBroker(
        redis_url,
        logger=logging.getLogger(f"khabar.{service}.faststream"),
        middlewares=[RedisPrometheusMiddleware(registry=REGISTRY, app_name=service)],
    )
