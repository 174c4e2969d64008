"""HTTP metrics middleware, cache counters, the trace's arithmetic and the AsyncAPI document."""

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from khabar_ingest.trace import STAGES, AcceptedVersion, version_trace
from khabar_shared import metrics
from khabar_shared.asyncapi import khabar_asyncapi
from khabar_shared.broker import make_broker
from khabar_shared.consumer import StreamConsumer
from khabar_shared.events import ArticleEvent, EnrichedEvent
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICHED_STREAM
from khabar_shared.ops_http import HttpMetricsMiddleware
from khabar_shared.settings import CommonSettings


def sample(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def test_http_middleware_counts_by_route_template_not_raw_path() -> None:
    app = FastAPI()
    app.add_middleware(HttpMetricsMiddleware)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    before = sample(
        "khabar_http_requests_total", method="GET", route="/things/{thing_id}", status="200"
    )
    missing_before = sample(
        "khabar_http_requests_total", method="GET", route="unmatched", status="404"
    )
    client = TestClient(app)
    assert client.get("/things/القدس").status_code == 200
    assert client.get("/things/beirut").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert (
        sample("khabar_http_requests_total", method="GET", route="/things/{thing_id}", status="200")
        == before + 2
    )
    assert (
        sample("khabar_http_requests_total", method="GET", route="unmatched", status="404")
        == missing_before + 1
    )
    assert (
        sample("khabar_http_request_seconds_count", method="GET", route="/things/{thing_id}") >= 2
    )


def test_cache_lookups_are_counted_by_result() -> None:
    hits = sample("khabar_cache_lookups_total", cache="fragments", result="hit")
    misses = sample("khabar_cache_lookups_total", cache="fragments", result="miss")
    metrics.record_cache_lookup(True)
    metrics.record_cache_lookup(True)
    metrics.record_cache_lookup(False)
    assert sample("khabar_cache_lookups_total", cache="fragments", result="hit") == hits + 2
    assert sample("khabar_cache_lookups_total", cache="fragments", result="miss") == misses + 1


def accepted(version: int, at: datetime) -> AcceptedVersion:
    return AcceptedVersion(
        version=version,
        event_id=f"e{version}",
        status="usable",
        accepted_at=at,
        correlation_id="corr-1",
    )


def test_trace_says_which_stage_applied_and_which_is_pending_since_acceptance() -> None:
    at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    applied = {stage: {} for stage in STAGES}
    applied["enrich"] = {b"2": (at + timedelta(seconds=1.5)).isoformat().encode()}
    applied["search"] = {b"2": (at + timedelta(seconds=3)).isoformat().encode()}
    trace = version_trace(accepted(2, at), applied, now=at + timedelta(minutes=5))
    stages = {stage.stage: stage for stage in trace.stages}
    assert [s.stage for s in trace.stages] == ["enrich", "search", "render"]
    assert stages["enrich"].seconds == 1.5 and stages["search"].seconds == 3.0
    assert stages["render"].applied_at is None
    assert stages["render"].pending_since == at and stages["render"].seconds == 300.0
    assert trace.live is False
    applied["render"] = {b"2": (at + timedelta(seconds=4)).isoformat().encode()}
    assert version_trace(accepted(2, at), applied, now=at).live is True
    # Another version's stamps do not count for this one.
    assert version_trace(accepted(3, at), applied, now=at).live is False


async def noop(_: list) -> None:
    return None


def test_asyncapi_document_carries_the_event_schemas_of_the_streams() -> None:
    broker = make_broker("redis://127.0.0.1:6379/14", "test", cluster=False)
    for stream, group, model in (
        (ARTICLE_EVENTS_STREAM, "enrich", ArticleEvent),
        (ENRICHED_STREAM, "search", EnrichedEvent),
    ):
        StreamConsumer(stream, group, model, noop, None, CommonSettings()).register(broker)  # type: ignore[arg-type]
    document = khabar_asyncapi(broker, "test").to_specification().to_jsonable()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {ARTICLE_EVENTS_STREAM, ENRICHED_STREAM}
    schemas = document["components"]["schemas"]
    assert {"ArticleEvent", "EnrichedEvent", "Article"} <= set(schemas)
    assert "correlation_id" in schemas["ArticleEvent"]["properties"]
    payloads = {m["payload"]["$ref"] for m in document["components"]["messages"].values()}
    assert payloads == {"#/components/schemas/ArticleEvent", "#/components/schemas/EnrichedEvent"}
    assert not any(name.endswith(":Payload") for name in schemas)


async def test_asyncapi_is_served_by_both_app_flavours() -> None:
    import httpx
    from faststream.asgi import AsgiFastStream

    from khabar_shared.asyncapi import asyncapi_router

    broker = make_broker("redis://127.0.0.1:6379/14", "test", cluster=False)
    StreamConsumer(
        ENRICHED_STREAM,
        "render",
        EnrichedEvent,
        noop,
        None,  # type: ignore[arg-type]
        CommonSettings(),
    ).register(broker)
    consumer_app = AsgiFastStream(
        broker, specification=khabar_asyncapi(broker, "render"), asyncapi_path="/asyncapi"
    )
    http_app = FastAPI()
    http_app.include_router(asyncapi_router(broker, "render"))
    for app, path in (
        (consumer_app, "/asyncapi"),
        (http_app, "/asyncapi"),
        (http_app, "/asyncapi.json"),
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://khabar") as client:
            answer = await client.get(path)
        assert answer.status_code == 200
        assert "EnrichedEvent" in answer.text and ENRICHED_STREAM in answer.text
