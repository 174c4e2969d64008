"""What an operator sees of the running system: readiness, stream metrics, the trace."""

import uuid
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICHED_STREAM, dead_letter_stream
from khabar_shared.redis_helpers import read_group_stats
from tests.conftest import Servers, System
from tests.support import eventually, real_articles, to_ninjs


def gauges(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def auth(system: System) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.ingest_key}"}


@pytest.fixture(scope="module")
def posted(system: System) -> dict[str, Any]:
    document = to_ninjs(real_articles(3, min_words=100)[2])
    correlation = f"op-test-{uuid.uuid4()}"
    answer = httpx.post(
        f"{system.ingest_url}/v1/articles",
        json=document,
        timeout=10,
        headers={**auth(system), "X-Correlation-ID": correlation},
    )
    assert answer.status_code == 202, answer.text
    return {"id": answer.json()["article_id"], "correlation": correlation, "document": document}


def trace(system: System, article_id: str) -> httpx.Response:
    return httpx.get(
        f"{system.ingest_url}/v1/articles/{article_id}/trace", headers=auth(system), timeout=10
    )


def test_trace_shows_each_stage_applying_the_version(
    system: System, posted: dict[str, Any]
) -> None:
    body = eventually(
        lambda: (t := trace(system, posted["id"]).json())["versions"][0]["live"] and t, timeout_s=60
    )
    (version,) = body["versions"]
    assert version["version"] == 1 and version["correlation_id"] == posted["correlation"]
    stages = {stage["stage"]: stage for stage in version["stages"]}
    assert set(stages) == {"enrich", "search", "render"}
    assert all(stage["applied_at"] >= version["accepted_at"] for stage in stages.values())
    assert stages["enrich"]["seconds"] <= stages["render"]["seconds"]

    corrected = {**posted["document"], "headline": posted["document"]["headline"] + " (مصحح)"}
    answer = httpx.post(f"{system.ingest_url}/v1/articles", json=corrected, headers=auth(system))
    assert answer.json()["version"] == 2
    latest = trace(system, posted["id"]).json()["versions"]
    assert [v["version"] for v in latest] == [2, 1]
    eventually(lambda: trace(system, posted["id"]).json()["versions"][0]["live"], timeout_s=60)


def test_trace_needs_a_key_and_a_known_article(system: System) -> None:
    assert httpx.get(f"{system.ingest_url}/v1/articles/nope/trace").status_code == 401
    assert trace(system, "no-such-article").status_code == 404


def test_correlation_id_from_ingest_rides_on_the_events(
    system: System, posted: dict[str, Any]
) -> None:
    client = redis.Redis.from_url(system.env["KHABAR_REDIS_URL"])
    for stream in (ARTICLE_EVENTS_STREAM, ENRICHED_STREAM):
        entries = eventually(
            lambda s=stream: [
                f for _, f in client.xrange(s) if f[b"article_id"].decode() == posted["id"]
            ]
        )
        assert entries[0][b"correlation_id"].decode() == posted["correlation"]


@pytest.mark.parametrize(
    "service,group,stream",
    [
        ("enrich", "enrich", ARTICLE_EVENTS_STREAM),
        ("search", "search", ENRICHED_STREAM),
        ("render", "render", ENRICHED_STREAM),
    ],
)
def test_metrics_report_lag_pending_age_and_dead_letters(
    system: System, posted: dict[str, Any], service: str, group: str, stream: str
) -> None:
    url = system.ops_urls[service]
    labels = (("group", group), ("stream", stream))
    found = eventually(
        lambda: (g := gauges(url)).get(("khabar_pending_events", labels)) == 0 and g, timeout_s=60
    )
    assert found[("khabar_consumer_lag_events", labels)] == 0
    assert found[("khabar_oldest_pending_age_seconds", labels)] == 0
    handled = found[("khabar_events_handled_total", labels)]
    assert handled >= 1
    assert found[("process_resident_memory_bytes", ())] > 0  # each service's own memory
    assert ("python_gc_collections_total", (("generation", "0"),)) in found


def test_a_streams_gauges_are_exported_by_one_service_only(
    system: System, posted: dict[str, Any]
) -> None:
    """search and render both read the enriched stream: a sum over their metrics counts it once."""
    stream = (("stream", ENRICHED_STREAM),)

    def exported() -> list[float] | None:
        found = [
            gauges(url).get(("khabar_stream_entries", stream))
            for url in (system.ops_urls["search"], system.ops_urls["render"])
        ]
        return found if any(value is not None for value in found) else None

    values = eventually(exported, timeout_s=60)
    assert sum(value is not None for value in values) == 1, values
    redis_length = redis.Redis.from_url(system.env["KHABAR_REDIS_URL"]).xlen(ENRICHED_STREAM)
    assert next(v for v in values if v is not None) <= redis_length


def test_readiness_names_every_dependency(system: System) -> None:
    search = httpx.get(f"{system.ops_urls['search']}/readyz", timeout=5)
    assert search.status_code == 200
    body = search.json()
    assert body["checks"] == {"redis": "ok", "search_nodes": "ok", "consumer_group": "ok"}
    # Meilisearch is judged node by node: each one the process's readers may be sent to.
    assert [(n["node"], n["healthy"], n["ready"]) for n in body["search_nodes"]] == [
        ("1", True, True)
    ]
    assert body["node"] == "1" and body["indexer"] == "ok"
    enrich = httpx.get(f"{system.enrich_url}/readyz", timeout=5).json()
    assert enrich["checks"]["consumer_group"] == "ok"


def test_enrich_serves_its_asyncapi_document(system: System) -> None:
    page = httpx.get(f"{system.enrich_url}/asyncapi", timeout=5)
    assert page.status_code == 200
    assert ARTICLE_EVENTS_STREAM in page.text


async def test_group_stats_count_lag_pending_and_dead_letters(servers: Servers) -> None:
    client = aioredis.Redis.from_url(servers.redis_url.rsplit("/", 1)[0] + "/14")
    stream = f"khabar:{{test-{uuid.uuid4().hex[:8]}}}:events"
    try:
        for n in range(5):
            await client.xadd(stream, {"n": str(n)})
        await client.xgroup_create(stream, "g", id="0")
        read = await client.xreadgroup("g", "worker-1", {stream: ">"}, count=3)
        first_id = read[0][1][0][0]
        await client.xack(stream, "g", first_id)
        await client.xadd(dead_letter_stream(stream), {"reason": "malformed"})
        stats = await read_group_stats(client, stream, "g")
        assert stats is not None
        assert (stats.length, stats.lag, stats.pending, stats.dead_letters) == (5, 2, 2, 1)
        assert stats.consumers == {"worker-1": 2}
        assert stats.oldest_pending_age_s >= 0
        assert await read_group_stats(client, stream, "no-such-group") is None
        assert await read_group_stats(client, stream + ":missing", "g") is None
    finally:
        await client.delete(stream, dead_letter_stream(stream))
        await client.aclose()
