"""Enrich as a FastStream app: consumes article events, serves health and metrics."""

import asyncio

from faststream.asgi import AsgiFastStream

from khabar_enrich.handler import Enricher
from khabar_enrich.index import RelatedIndex
from khabar_enrich.settings import EnrichSettings
from khabar_enrich.tagging import warm_up
from khabar_shared import failpoints
from khabar_shared.asyncapi import khabar_asyncapi
from khabar_shared.broker import make_broker
from khabar_shared.collector import settle_collector
from khabar_shared.consumer import StreamConsumer
from khabar_shared.events import ArticleEvent
from khabar_shared.health import group_check, redis_check
from khabar_shared.names import ARTICLE_EVENTS_STREAM, ENRICH_GROUP
from khabar_shared.ops_http import faststream_ops_routes
from khabar_shared.outages import WAITING
from khabar_shared.redis_helpers import connect, ensure_group, wait_for_redis
from khabar_shared.sections import use_sections
from khabar_shared.shutdown import stop_consumers


def create_app(settings: EnrichSettings | None = None) -> AsgiFastStream:
    settings = settings or EnrichSettings()
    failpoints.configure(settings.failpoints)
    use_sections(settings.sections_file)  # a category's section tilts the topic
    redis = connect(settings.redis_url)
    broker = make_broker(settings.redis_url, "enrich", graceful_timeout_s=settings.shutdown_grace_s)
    enricher = Enricher(redis, RelatedIndex(redis, settings), settings)
    consumer = StreamConsumer(
        stream=ARTICLE_EVENTS_STREAM,
        group=ENRICH_GROUP,
        event_model=ArticleEvent,
        handle=enricher.handle,
        redis=redis,
        settings=settings,
    )
    consumer.register(broker)

    async def prepare() -> None:
        await wait_for_redis(redis, "log")
        await ensure_group(redis, ARTICLE_EVENTS_STREAM, ENRICH_GROUP)
        # Load the gazetteer and lexicons before the first event, not during it.
        await asyncio.to_thread(warm_up)
        settle_collector()

    forgetting: list[asyncio.Task[None]] = []

    async def started() -> None:
        # Consumers of killed enrich processes leave the group once their entries are claimed.
        forgetting.append(asyncio.create_task(consumer.keep_forgetting_dead_consumers()))

    async def stop() -> None:
        for task in forgetting:
            task.cancel()
        await stop_consumers(broker, [consumer], settings.shutdown_grace_s)

    async def close() -> None:
        await redis.aclose()

    checks = {
        "redis": redis_check(redis),
        "consumer_group": group_check(redis, ARTICLE_EVENTS_STREAM, ENRICH_GROUP),
        "dependencies": WAITING.check,  # red while a consumer waits out an outage
    }
    return AsgiFastStream(
        broker,
        asgi_routes=faststream_ops_routes(checks),
        on_startup=[prepare],
        after_startup=[started],
        on_shutdown=[stop],
        after_shutdown=[close],
        asyncapi_path="/asyncapi",
        specification=khabar_asyncapi(broker, "enrich"),
    )
