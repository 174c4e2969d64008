"""Prometheus metrics shared by every consumer; each process has its own registry."""

from prometheus_client import CollectorRegistry, Counter, Histogram

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
