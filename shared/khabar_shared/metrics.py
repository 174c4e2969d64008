"""Prometheus metrics shared by every service; each process has its own registry.

Counters and histograms are updated where things happen (consumer, HTTP
middleware, render's cache); stream gauges are read from Redis at scrape time.
Names follow Prometheus's conventions: `khabar_` prefix, the unit as a plural
suffix (`_seconds`, `_events`, `_entries`), `_total` on counters. The process
(`process_resident_memory_bytes`, CPU, open files), Python GC and platform
collectors are registered too, so every service reports its own memory.

A stream's gauges describe Redis, not the replica that reads them: of all the
replicas that could export them, one does at a time (a lease in Redis, see
`ops_http.refresh_stream_stats`), so a dashboard may sum across replicas.
"""

from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from khabar_shared.redis_helpers import GroupStats

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, cpu, open fds
PlatformCollector(registry=REGISTRY)  # python_info
GCCollector(registry=REGISTRY)  # python_gc_objects_collected_total, python_gc_collections_total

EVENTS_HANDLED = Counter(
    "khabar_events_handled_total",
    "Events handled and acked, per stream and consumer group.",
    ["stream", "group"],
    registry=REGISTRY,
)
EVENTS_FAILED = Counter(
    "khabar_events_failed_total",
    "Event deliveries whose handling raised; they stay pending and are retried.",
    ["stream", "group"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "khabar_dead_letters_total",
    "Events moved to the dead-letter stream.",
    ["stream", "group", "reason"],
    registry=REGISTRY,
)
WAITING_FOR_DEPENDENCY = Gauge(
    "khabar_waiting_for_dependency",
    "1 while the consumer waits out a dependency's outage (its batch held, not counted as failed).",
    ["stream", "group"],
    registry=REGISTRY,
)
OUTAGE_RETRIES = Counter(
    "khabar_outage_retries_total",
    "Batches tried again after a dependency's outage, per dependency.",
    ["stream", "group", "dependency"],
    registry=REGISTRY,
)
HANDLE_SECONDS = Histogram(
    "khabar_batch_handle_seconds",
    "Time to handle one batch of events, from read to ack.",
    ["stream", "group"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "khabar_batch_size_events",
    "Events per batch handed to a handler.",
    ["stream", "group"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=REGISTRY,
)

# Fragment (or any) cache lookups: render calls `record_cache_lookup(hit)` on every read.
CACHE_LOOKUPS = Counter(
    "khabar_cache_lookups_total",
    "Cache lookups, by cache and result (hit or miss).",
    ["cache", "result"],
    registry=REGISTRY,
)


def record_cache_lookup(hit: bool, cache: str = "fragments") -> None:
    _cache_lookups(cache, hit).inc()


@lru_cache(maxsize=64)
def _cache_lookups(cache: str, hit: bool) -> Any:
    """A cache's hit or miss series, looked up once (render's fast path counts every answer)."""
    return CACHE_LOOKUPS.labels(cache=cache, result="hit" if hit else "miss")


HTTP_REQUESTS = Counter(
    "khabar_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "khabar_http_request_seconds",
    "Time to answer one HTTP request, by method and route template.",
    ["method", "route"],
    registry=REGISTRY,
)


class StreamStatsCollector:
    """Consumer lag, pending count, oldest pending age and dead letters, per stream/group.

    Redis is asynchronous and a prometheus collector is not: `/metrics` reads the
    numbers (`redis_helpers.read_group_stats`) just before it renders, hands them
    to `update` with whether this replica is the one that exports the group's
    and the stream's gauges, and `collect` reports that snapshot.
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], GroupStats] = {}
        self._streams: dict[str, GroupStats] = {}

    def update(self, stats: "GroupStats", group: bool = True, stream: bool = True) -> None:
        """This scrape's numbers; `group`/`stream`: whether this replica exports them."""
        key = (stats.stream, stats.group)
        if group:
            self._groups[key] = stats
        else:
            self._groups.pop(key, None)
        if stream:
            self._streams[stats.stream] = stats
        else:
            self._streams.pop(stats.stream, None)

    def collect(self) -> Iterator[Metric]:
        labels = ["stream", "group"]
        lag = GaugeMetricFamily(
            "khabar_consumer_lag_events",
            "Events on the stream not yet delivered to the group.",
            labels=labels,
        )
        pending = GaugeMetricFamily(
            "khabar_pending_events",
            "Events delivered to the group and not yet acked.",
            labels=labels,
        )
        age = GaugeMetricFamily(
            "khabar_oldest_pending_age_seconds",
            "Age of the oldest event the group has not acked.",
            labels=labels,
        )
        length = GaugeMetricFamily(
            "khabar_stream_entries", "Entries on the stream.", labels=["stream"]
        )
        dead = GaugeMetricFamily(
            "khabar_dead_letter_entries",
            "Entries waiting on the stream's dead-letter stream.",
            labels=["stream"],
        )
        for (stream, group), stats in sorted(self._groups.items()):
            if stats.lag is not None:
                lag.add_metric([stream, group], stats.lag)
            pending.add_metric([stream, group], stats.pending)
            age.add_metric([stream, group], stats.oldest_pending_age_s)
        for stream, stats in sorted(self._streams.items()):
            length.add_metric([stream], stats.length)
            dead.add_metric([stream], stats.dead_letters)
        yield from (lag, pending, age, length, dead)


STREAM_STATS = StreamStatsCollector()
REGISTRY.register(STREAM_STATS)
