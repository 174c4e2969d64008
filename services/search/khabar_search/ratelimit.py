"""A per-reader token bucket: readers get `per_minute` requests with bursts up to `burst`.

The buckets live in Redis (`lua/ratelimit.lua`, one atomic step per request), so
N search replicas behind a load balancer enforce one limit, not N. When Redis
does not answer, each replica falls back to a bucket in its own memory
(`RateLimiter`): the limit is then per replica, and readers are not refused
for our outage. Who the reader is comes from `client_address`.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from starlette.responses import JSONResponse, Response

from khabar_search.client_address import Network, client_address
from khabar_shared.logging import get_logger
from khabar_shared.lua import ScriptRegistry
from khabar_shared.problems import PROBLEM_JSON, Problem
from khabar_shared.redis_helpers import RedisClient

log = get_logger(__name__)

# Buckets of clients not seen for a while are forgotten; at most this many are kept.
MAX_CLIENTS = 100_000
TAKE_SCRIPT = ScriptRegistry("khabar_search")["ratelimit"]


def bucket_key(index: str, client: str) -> str:
    """One reader's bucket for the readers of one index (one deployment of search).

    No hash tag: each bucket is its own single-key script call, on any cluster node.
    """
    return f"khabar:search:ratelimit:{index}:{client}"


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Buckets in this process's memory: the fallback while Redis is away."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str, now: float | None = None) -> float:
        """Spend one token; 0.0 if allowed, else the seconds until a token is back."""
        if not self.enabled:
            return 0.0
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(client, None) or Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[client] = bucket
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))


class SharedRateLimiter:
    """Buckets in Redis, one per reader across every replica."""

    def __init__(self, redis: RedisClient, index: str, per_minute: int, burst: int) -> None:
        self.local = RateLimiter(per_minute, burst)
        self._index = index
        self._take = TAKE_SCRIPT.register(redis)

    @property
    def enabled(self) -> bool:
        return self.local.enabled

    async def take(self, client: str) -> float:
        """Spend one of `client`'s tokens; 0.0 if allowed, else the seconds until one is back."""
        if not self.enabled:
            return 0.0
        try:
            wait = await self._take(
                keys=[bucket_key(self._index, client)],
                args=[repr(self.local.rate), repr(self.local.burst)],
            )
        except (RedisError, OSError) as error:
            log.warning("rate_limit_redis_unavailable", error=str(error))
            return self.local.take(client)
        return float(wait)


# How a refusal is answered: the scope, the problem and its headers (`error_pages.ErrorPages`).
Answer = Callable[[dict[str, Any], Problem, dict[str, str]], Response]


def problem_document(scope: dict[str, Any], found: Problem, headers: dict[str, str]) -> Response:
    return JSONResponse(
        found.body(), status_code=found.status, media_type=PROBLEM_JSON, headers=headers
    )


class RateLimitMiddleware:
    """Answers 429 once a reader spent their tokens: a page for readers, else a problem.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's
    BaseHTTPMiddleware runs every request through extra tasks and streams,
    which cost measurable CPU per search under load.
    """

    def __init__(
        self,
        app: Any,
        limiter: SharedRateLimiter,
        paths: tuple[str, ...],
        trusted_proxies: tuple[Network, ...] = (),
        answer: Answer | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.paths = paths
        self.trusted_proxies = trusted_proxies
        self.answer = answer or problem_document

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            wait_s = await self.limiter.take(client_address(scope, self.trusted_proxies))
            if wait_s > 0:
                await self._refuse(wait_s, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, wait_s: float, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = Problem(
            status=429,
            title="Too Many Requests",
            detail="Slow down: this address made too many searches.",
        )
        response = self.answer(scope, found, {"Retry-After": RateLimiter.retry_after(wait_s)})
        await response(scope, receive, send)
