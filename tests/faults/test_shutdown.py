"""Graceful shutdown: SIGTERM in the middle of a batch.

A real enrich process works through real articles written to its stream;
SIGTERM arrives while it is busy. It must stop reading, finish and ack what it
holds, and exit within `KHABAR_SHUTDOWN_GRACE_S` (plus the interpreter's exit).
"""

import json
import signal
import time
from collections.abc import Iterator

import pytest

from khabar_shared.events import encode_event
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICH_GROUP, ENRICHED_STREAM
from tests.conftest import Servers
from tests.faults.harness import Pipeline, article_event, corpus_articles, new_pipeline
from tests.support import eventually

DB = 9
GRACE_S = 5.0
# Time to leave the interpreter after the app's shutdown: not part of the promise.
EXIT_MARGIN_S = 3.0


@pytest.fixture
def pipeline(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    running = new_pipeline(
        servers,
        DB,
        tmp_path_factory.mktemp("shutdown-logs"),
        batch_size="20",
        shutdown_grace_s=str(GRACE_S),
    )
    try:
        yield running
    finally:
        running.stop()


def handled_sources(pipeline: Pipeline) -> set[str]:
    """Event ids enrich turned into enriched events (its effect is on the stream)."""
    return {
        json.loads(fields[b"data"])["source_event_id"]
        for _, fields in pipeline.redis.xrange(ENRICHED_STREAM)
    }


def pending_events(pipeline: Pipeline) -> dict[str, str]:
    """Pending entries of the enrich group: event id -> consumer holding it."""
    redis = pipeline.redis
    held = {}
    for entry in redis.xpending_range(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, "-", "+", 10_000):
        ((_, fields),) = redis.xrange(
            ARTICLE_EVENTS_STREAM, entry["message_id"], entry["message_id"]
        )
        held[fields[b"event_id"].decode()] = entry["consumer"].decode()
    return held


@pytest.mark.slow
def test_sigterm_mid_batch_acks_what_was_handled_and_exits_in_time(pipeline: Pipeline) -> None:
    redis = pipeline.redis
    events = [article_event(article) for article in corpus_articles(400)]
    for event in events:
        redis.xadd(ARTICLE_EVENTS_STREAM, encode_event(event))  # type: ignore[arg-type]
    enrich = pipeline.launch("enrich")
    pipeline.wait_ready()
    eventually(lambda: redis.xlen(ENRICHED_STREAM) >= 50, timeout_s=120)

    enrich.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    returncode = enrich.process.wait(GRACE_S + EXIT_MARGIN_S + 10)
    took = time.monotonic() - signalled

    handled = handled_sources(pipeline)
    held = pending_events(pipeline)
    # uvicorn re-raises the signal it caught once its graceful shutdown is done.
    assert returncode in (0, -signal.SIGTERM)
    assert 0 < len(handled) < len(events), "SIGTERM should land mid-stream"
    assert not handled & set(held), f"handled but left pending: {sorted(handled & set(held))[:5]}"
    # It stopped reading: what it did not handle was never read, or was handed back
    # (handled on the way out) — nothing waits on the dead consumer for a claim.
    assert held == {}, f"{len(held)} entries left pending on the stopped consumer"
    assert took <= GRACE_S + EXIT_MARGIN_S, f"exit took {took:.1f}s"
    log = enrich.log_path.read_text() if enrich.log_path else ""
    assert "Application shutdown complete" in log
