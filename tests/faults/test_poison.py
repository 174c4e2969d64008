"""Poison: entries that can never be handled end in dead letters and block nobody.

Unparseable payloads written straight to both streams with XADD while real
services run are dead-lettered at their first delivery (no retry can fix
them), once per consumer group; real articles posted behind them are indexed
and rendered. A dead letter replayed after the cause is fixed goes through.
(An event whose handler keeps raising is dead-lettered after
`KHABAR_MAX_DELIVERIES` deliveries: tests/integration/test_consumer.py.)
"""

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from khabar_dev.checks import Accepted, check_fragments, check_index, meili_idle
from khabar_shared.dead_letters import DeadLetter, list_dead_letters, replay_dead_letter
from khabar_shared.events import encode_event
from khabar_shared.names import (
    ARTICLE_EVENTS_STREAM,
    ENRICH_GROUP,
    ENRICHED_STREAM,
    dead_letter_stream,
)
from khabar_shared.redis_helpers import connect
from tests.conftest import Servers
from tests.faults.harness import (
    Pipeline,
    article_event,
    corpus_articles,
    corpus_documents,
    new_pipeline,
    send,
    wait_settled,
)
from tests.support import eventually

DB = 10
MAX_DELIVERIES = 3


@pytest.fixture(scope="module")
def pipeline(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    running = new_pipeline(
        servers,
        DB,
        tmp_path_factory.mktemp("poison-logs"),
        claim_idle_ms="1000",
        max_deliveries=str(MAX_DELIVERIES),
    )
    try:
        running.start_all()
        yield running
    finally:
        running.stop()


def dead_letter_counts(service_url: str) -> dict[tuple[str, str], float]:
    """`khabar_dead_letters_total` of one service, by (group, reason)."""
    text = httpx.get(f"{service_url}/metrics").text
    return {
        (s.labels["group"], s.labels["reason"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "khabar_dead_letters"
        for s in family.samples
        if s.name == "khabar_dead_letters_total"
    }


async def _dead(pipeline: Pipeline, stream: str) -> list[DeadLetter]:
    client = connect(pipeline.env["KHABAR_REDIS_URL"], cluster=False)
    try:
        return await list_dead_letters(client, dead_letter_stream(stream))
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_poison_entries_are_dead_lettered_and_never_block_the_rest(
    pipeline: Pipeline,
) -> None:
    redis = pipeline.redis
    garbage = {"type": "article.published", "data": '{"event_id": "x", "article": ['}
    bad_article_id = redis.xadd(ARTICLE_EVENTS_STREAM, garbage).decode()
    bad_enriched_id = redis.xadd(
        ENRICHED_STREAM, {"type": "article.enriched", "data": "\xff"}
    ).decode()
    accepted, ids = Accepted(), {}
    with httpx.Client(timeout=30) as client:
        for document in corpus_documents(40):
            assert send(client, pipeline, "publish", document, accepted, ids).status_code == 202

    wait_settled(redis, timeout_s=120)
    eventually(lambda: meili_idle(pipeline), timeout_s=60)
    check_index(pipeline, accepted)
    check_fragments(pipeline, accepted)

    article_dead = await _dead(pipeline, ARTICLE_EVENTS_STREAM)
    enriched_dead = await _dead(pipeline, ENRICHED_STREAM)
    assert [(d.source_id, d.group, d.reason) for d in article_dead] == [
        (bad_article_id, ENRICH_GROUP, "malformed")
    ]
    assert article_dead[0].original == garbage
    assert "invalid ArticleEvent" in article_dead[0].error
    # The enriched stream's garbage is dead-lettered once per group that read it.
    assert sorted(d.group for d in enriched_dead) == ["render", "search"]
    assert {d.source_id for d in enriched_dead} == {bad_enriched_id}
    assert dead_letter_counts(pipeline.url("enrich")) == {("enrich", "malformed"): 1.0}

    # Replay one after "fixing" it (here: the operator repairs the entry's data first).
    good = article_event(corpus_articles(1)[0].model_copy(update={"id": "replayed-article"}))
    client = connect(pipeline.env["KHABAR_REDIS_URL"], cluster=False)
    try:
        dead_stream = dead_letter_stream(ARTICLE_EVENTS_STREAM)
        await client.xadd(
            dead_stream,
            {
                **{
                    k: v
                    for k, v in (
                        await client.xrange(
                            dead_stream, article_dead[0].entry_id, article_dead[0].entry_id
                        )
                    )[0][1].items()
                },
                b"original.data": encode_event(good)["data"],
            },
        )
        await client.xdel(dead_stream, article_dead[0].entry_id)
        ((repaired_id, _),) = await client.xrange(dead_stream)
        await replay_dead_letter(client, dead_stream, repaired_id.decode())
    finally:
        await client.aclose()
    wait_settled(redis, timeout_s=60)
    eventually(
        lambda: (
            httpx.get(f"{pipeline.url('render')}/fragments/article/replayed-article").status_code
            == 200
        ),
        timeout_s=30,
    )
    assert redis.xlen(dead_letter_stream(ARTICLE_EVENTS_STREAM)) == 0
