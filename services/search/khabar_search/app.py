"""Search: keeps the index (consumer) and answers readers (API and page)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from khabar_search.indexer import Indexer
from khabar_search.meili import MeiliWriter
from khabar_search.query import SearchClient, SearchParams, SearchResult
from khabar_search.settings import SearchSettings
from khabar_shared.broker import make_broker
from khabar_shared.consumer import StreamConsumer
from khabar_shared.events import EnrichedEvent
from khabar_shared.health import group_check, meili_check, redis_check
from khabar_shared.names import ENRICHED_STREAM, SEARCH_GROUP
from khabar_shared.ops_http import fastapi_ops_router, install_problem_handlers
from khabar_shared.problems import problem
from khabar_shared.redis_helpers import connect, ensure_group, wait_for_redis

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    settings = settings or SearchSettings()
    redis = connect(settings.redis_url)
    broker = make_broker(settings.redis_url, "search")
    writer = MeiliWriter(settings.meili_url, settings.meili_index_key.get_secret_value(),
                         settings.meili_index)
    indexer = Indexer(redis, writer, settings.meili_retry_max_s)
    StreamConsumer(
        stream=ENRICHED_STREAM, group=SEARCH_GROUP, event_model=EnrichedEvent,
        handle=indexer.handle, redis=redis, settings=settings,
    ).register(broker)
    reader = SearchClient(settings.meili_url, settings.meili_search_key.get_secret_value(),
                          settings.meili_index)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await wait_for_redis(redis, "log")
        await ensure_group(redis, ENRICHED_STREAM, SEARCH_GROUP)
        await writer.ensure_index()
        await broker.start()
        yield
        await broker.stop()
        await reader.aclose()
        await redis.aclose()

    app = FastAPI(title="khabar search", version="1", lifespan=lifespan,
                  description="Readers search the archive in Arabic and English.")
    install_problem_handlers(app)
    app.include_router(fastapi_ops_router({
        "redis": redis_check(redis),
        "meilisearch": meili_check(settings.meili_url),
        "consumer_group": group_check(redis, ENRICHED_STREAM, SEARCH_GROUP),
    }))

    def read_params(
        q: Annotated[str, Query(max_length=settings.max_query_chars)] = "",
        category: Annotated[str | None, Query(max_length=64)] = None,
        tag: Annotated[str | None, Query(max_length=128)] = None,
        source: Annotated[str | None, Query(max_length=64)] = None,
        lang: Annotated[str | None, Query(pattern="^[a-z]{2}$")] = None,
        date_from: Annotated[date | None, Query(alias="from")] = None,
        date_to: Annotated[date | None, Query(alias="to")] = None,
        sort: Literal["relevance", "newest"] = "relevance",
        page: Annotated[int, Query(ge=1, le=1000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=settings.max_per_page)] = 10,
    ) -> SearchParams:
        if date_from and date_to and date_from > date_to:
            raise problem(400, "Bad Request", "'from' is after 'to'.",
                          errors=[{"pointer": "from", "detail": "must not be after 'to'"}])
        return SearchParams(q=q.strip(), category=category, tag=tag, source=source, lang=lang,
                            date_from=date_from, date_to=date_to, sort=sort, page=page,
                            per_page=per_page)

    @app.get("/v1/search", response_model=SearchResult)
    async def search_api(params: Annotated[SearchParams, Depends(read_params)]) -> SearchResult:
        return await reader.search(params)

    @app.get("/search", response_class=HTMLResponse)
    async def search_page(
        request: Request, params: Annotated[SearchParams, Depends(read_params)]
    ) -> HTMLResponse:
        result = await reader.search(params) if params.q or params.category else None
        return TEMPLATES.TemplateResponse(
            request, "search.html", {"params": params, "result": result},
        )

    return app
