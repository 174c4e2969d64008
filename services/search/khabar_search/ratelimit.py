"""A per-client token bucket: readers get `per_minute` requests with bursts up to `burst`.

In-process and per replica: behind a load balancer with N search replicas a
client can make up to N times the limit. That bounds abuse cheaply; a shared
limit would need a Redis round trip on every query.
"""

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

from khabar_shared.problems import PROBLEM_JSON, Problem

# Buckets of clients not seen for a while are forgotten; at most this many are kept.
MAX_CLIENTS = 100_000


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
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


class RateLimitMiddleware:
    """Answers 429 with a problem document once a client address spent its tokens.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's
    BaseHTTPMiddleware runs every request through extra tasks and streams,
    which cost measurable CPU per search under load.
    """

    def __init__(self, app: Any, limiter: RateLimiter, paths: tuple[str, ...]) -> None:
        self.app = app
        self.limiter = limiter
        self.paths = paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            client = scope.get("client")
            wait_s = self.limiter.take(client[0] if client else "unknown")
            if wait_s > 0:
                await self._refuse(wait_s, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, wait_s: float, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = Problem(status=429, title="Too Many Requests",
                        detail="Slow down: this address made too many searches.")
        response = JSONResponse(found.body(), status_code=429, media_type=PROBLEM_JSON,
                                headers={"Retry-After": self.limiter.retry_after(wait_s)})
        await response(scope, receive, send)
