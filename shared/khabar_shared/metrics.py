"""Prometheus metrics shared by every service; each process has its own registry.

Counters and histograms are updated where things happen (consumer, HTTP
middleware, render's cache); stream gauges are read from Redis at scrape time.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from khabar_shared.redis_helpers import GroupStats

REGISTRY = CollectorRegistry(auto_describe=True)

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
    "khabar_handle_seconds",
    "Time to handle one batch of events, from read to ack.",
    ["stream", "group"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "khabar_batch_size",
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
    CACHE_LOOKUPS.labels(cache=cache, result="hit" if hit else "miss").inc()


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
    to `update`, and `collect` reports that snapshot.
    """

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], GroupStats] = {}

    def update(self, stats: "list[GroupStats]") -> None:
        for found in stats:
            self._stats[(found.stream, found.group)] = found

    def collect(self) -> Iterator[Metric]:
        labels = ["stream", "group"]
        lag = GaugeMetricFamily("khabar_consumer_lag",
                                "Events on the stream not yet delivered to the group.", labels=labels)
        pending = GaugeMetricFamily("khabar_pending_events",
                                    "Events delivered to the group and not yet acked.", labels=labels)
        age = GaugeMetricFamily("khabar_oldest_pending_age_seconds",
                                "Age of the oldest event the group has not acked.", labels=labels)
        length = GaugeMetricFamily("khabar_stream_length", "Entries on the stream.",
                                   labels=["stream"])
        dead = GaugeMetricFamily("khabar_dead_letter_stream_length",
                                 "Entries waiting on the stream's dead-letter stream.",
                                 labels=["stream"])
        streams: dict[str, GroupStats] = {}
        for (stream, group), stats in sorted(self._stats.items()):
            if stats.lag is not None:
                lag.add_metric([stream, group], stats.lag)
            pending.add_metric([stream, group], stats.pending)
            age.add_metric([stream, group], stats.oldest_pending_age_s)
            streams[stream] = stats
        for stream, stats in streams.items():
            length.add_metric([stream], stats.length)
            dead.add_metric([stream], stats.dead_letters)
        yield from (lag, pending, age, length, dead)


STREAM_STATS = StreamStatsCollector()
REGISTRY.register(STREAM_STATS)
