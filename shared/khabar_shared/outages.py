"""Failures that are a dependency's, not an event's.

A handler raises `DependencyUnavailable` (or lets a connection error or a
server error of Redis, Meilisearch or a webhook through) when what it needs
is down. The consumer (`consumer.py`) then waits with bounded backoff and
tries the same batch again; such a failure is never counted against the
event, so an outage of any length sends nothing to dead letters.
"""


class DependencyUnavailable(RuntimeError):
    """A dependency the handler needs did not answer, or answered with a server error."""

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency} unavailable: {detail}")
        self.dependency = dependency
