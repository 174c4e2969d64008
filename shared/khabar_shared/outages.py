"""Failures that are a dependency's, not an event's.

A handler raises `DependencyUnavailable` (or lets a Redis connection error,
an HTTP transport error or a 5xx through) when what it needs is down. The
consumer (`consumer.py`) then waits with bounded backoff and tries the same
batch again, holding its events meanwhile; such a failure is never counted
against the events, so an outage of any length sends nothing to dead letters.
While a consumer waits, `Waiting` says so: readiness turns red and the
`khabar_waiting_for_dependency` gauge is 1.
"""

from dataclasses import dataclass, field

import httpx
from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Redis answers that mean "not now", not "never": out of memory, loading, a replica, a cluster
# fail-over, a blocked read cut short by a reload (its stream gone for the moment: the next
# read tells whether it is gone for good).
TRANSIENT_REPLIES = (
    "OOM",
    "LOADING",
    "READONLY",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "UNBLOCKED",
)


class DependencyUnavailable(RuntimeError):
    """A dependency the handler needs did not answer, or answered with a server error."""

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency} unavailable: {detail}")
        self.dependency = dependency


def is_outage(error: BaseException) -> bool:
    """Whether `error` (or the error it was raised from) is a dependency's outage."""
    for found in (error, error.__cause__):
        if found is None:
            continue
        if isinstance(
            found,
            DependencyUnavailable
            | RedisConnectionError
            | RedisTimeoutError
            | BusyLoadingError
            | ConnectionError
            | TimeoutError
            | httpx.TransportError,
        ):
            return True
        if isinstance(found, ResponseError) and str(found).startswith(TRANSIENT_REPLIES):
            return True
        if isinstance(found, httpx.HTTPStatusError) and found.response.status_code >= 500:
            return True
    return False


def dependency_of(error: BaseException) -> str:
    if isinstance(error, DependencyUnavailable):
        return error.dependency
    module = type(error).__module__.partition(".")[0]
    return {"redis": "redis", "httpx": "http"}.get(module, module or "unknown")


@dataclass
class Waiting:
    """Which consumers are waiting out an outage now, and why (read by `/readyz`)."""

    reasons: dict[str, str] = field(default_factory=dict)

    def start(self, consumer: str, reason: str) -> None:
        self.reasons[consumer] = reason

    def stop(self, consumer: str) -> None:
        self.reasons.pop(consumer, None)

    async def check(self) -> str | None:
        if not self.reasons:
            return None
        return "; ".join(f"{name} waiting: {reason}" for name, reason in self.reasons.items())


# One per process: every consumer of a service reports here, its `/readyz` reads it.
WAITING = Waiting()
