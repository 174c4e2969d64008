"""Maintenance loses nothing: trim everything it may, rebuild, replay, every live article is there.

Articles are published, corrected and withdrawn through ingest; once the
pipeline settled, `khabar trim --keep-days 0 --yes` removes all it may, then
`khabar reindex` rebuilds the index from the enriched stream, and enrich and
render replay their streams from the start onto an emptied render store.
Every live article must then be searchable and rendered at its latest
version, and no withdrawn one anywhere.
"""

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from khabar_cli.main import app as khabar_app
from khabar_dev.checks import Accepted, check_fragments, check_index, dead_letters, meili_idle
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICH_GROUP, ENRICHED_STREAM, RENDER_GROUP
from tests.conftest import Servers
from tests.faults.harness import (
    Pipeline,
    corpus_documents,
    new_pipeline,
    send,
    wait_settled,
    workload,
)
from tests.support import eventually

ARTICLES = 60
DB = 13


@pytest.fixture(scope="module")
def pipeline(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    logs: Path = tmp_path_factory.mktemp("maintenance-logs")
    running = new_pipeline(servers, DB, logs, claim_idle_ms="2000", batch_size="20")
    try:
        running.start_all()
        yield running
    finally:
        running.stop()


def khabar(pipeline: Pipeline, *args: str) -> str:
    result = CliRunner().invoke(khabar_app, list(args), env={**pipeline.env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def settle(pipeline: Pipeline) -> None:
    wait_settled(pipeline.redis, timeout_s=300)
    eventually(lambda: meili_idle(pipeline), timeout_s=60, interval_s=0.5)


@pytest.mark.timeout(900)
def test_trim_to_nothing_then_reindex_and_replay_keeps_every_live_article(
    pipeline: Pipeline,
) -> None:
    rng = random.Random(18)
    accepted, ids_by_uri = Accepted(), {}
    with httpx.Client(timeout=30) as client:
        for kind, document in workload(corpus_documents(ARTICLES), 10, 8, rng):
            assert send(client, pipeline, kind, document, accepted, ids_by_uri).status_code == 202
    settle(pipeline)
    assert accepted.withdrawn and len(accepted.live) > ARTICLES - 10

    trimmed = khabar(pipeline, "trim", "--keep-days", "0", "--yes")
    assert "entries removed" in trimmed
    redis = pipeline.redis
    # Compacted, not cut: one event per live article is left on each stream.
    assert redis.xlen(ENRICHED_STREAM) == redis.xlen(ARTICLE_EVENTS_STREAM) == len(accepted.live)

    rebuilt = khabar(pipeline, "reindex")
    assert f"{len(accepted.live)} live articles" in rebuilt, rebuilt
    eventually(lambda: meili_idle(pipeline), timeout_s=60, interval_s=0.5)
    check_index(pipeline, accepted)

    # Render starts from nothing: its store and cache emptied, both streams replayed.
    for key in redis.scan_iter(match="khabar:{render}:*"):
        redis.delete(key)
    khabar(pipeline, "replay", ARTICLE_EVENTS_STREAM, ENRICH_GROUP, "--from", "0", "--yes")
    khabar(pipeline, "replay", ENRICHED_STREAM, RENDER_GROUP, "--from", "0", "--yes")
    settle(pipeline)
    check_index(pipeline, accepted)
    check_fragments(pipeline, accepted)
    assert dead_letters(redis) == {ARTICLE_EVENTS_STREAM: 0, ENRICHED_STREAM: 0}
