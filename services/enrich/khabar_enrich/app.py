"""Enrich as a FastStream app: consumes article events, serves health and metrics."""

from faststream.asgi import AsgiFastStream

from khabar_enrich.handler import Enricher
from khabar_enrich.related import RelatedIndex
from khabar_enrich.settings import EnrichSettings
from khabar_shared.asyncapi import khabar_asyncapi
from khabar_shared.broker import make_broker
from khabar_shared.consumer import StreamConsumer
from khabar_shared.events import ArticleEvent
from khabar_shared.health import group_check, redis_check
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICH_GROUP
from khabar_shared.ops_http import faststream_ops_routes
from khabar_shared.redis_helpers import connect, ensure_group, wait_for_redis


def create_app(settings: EnrichSettings | None = None) -> AsgiFastStream:
    settings = settings or EnrichSettings()
    redis = connect(settings.redis_url)
    broker = make_broker(settings.redis_url, "enrich")
    enricher = Enricher(redis, RelatedIndex(redis, settings), settings)
    StreamConsumer(
        stream=ARTICLE_EVENTS_STREAM,
        group=ENRICH_GROUP,
        event_model=ArticleEvent,
        handle=enricher.handle,
        redis=redis,
        settings=settings,
    ).register(broker)

    async def prepare() -> None:
        await wait_for_redis(redis, "log")
        await ensure_group(redis, ARTICLE_EVENTS_STREAM, ENRICH_GROUP)

    async def close() -> None:
        await redis.aclose()

    checks = {
        "redis": redis_check(redis),
        "consumer_group": group_check(redis, ARTICLE_EVENTS_STREAM, ENRICH_GROUP),
    }
    return AsgiFastStream(
        broker,
        asgi_routes=faststream_ops_routes(checks),
        on_startup=[prepare],
        after_shutdown=[close],
        asyncapi_path="/asyncapi",
        specification=khabar_asyncapi(broker, "enrich"),
    )
