"""Search: keeps the index (consumer) and answers readers (API and page)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import orjson
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from khabar_search.alias_store import AliasStore
from khabar_search.alias_sync import AliasSync
from khabar_search.error_pages import ErrorPages
from khabar_search.indexer import Finish, Indexer, decode_for_index
from khabar_search.meili import MeiliWriter
from khabar_search.messages import FROM_AFTER_TO, TOO_DEEP
from khabar_search.node_pool import NodePool
from khabar_search.nodes import SearchNode
from khabar_search.query import SearchClient, SearchParams, SearchResult, SearchUnavailable
from khabar_search.ratelimit import RateLimitMiddleware, SharedRateLimiter
from khabar_search.settings import SearchSettings
from khabar_search.synonyms import load_synonyms
from khabar_shared import failpoints
from khabar_shared.asyncapi import asyncapi_router
from khabar_shared.broker import make_broker
from khabar_shared.consumer import Delivery, StreamConsumer
from khabar_shared.dates import human_date
from khabar_shared.events import EnrichedEvent
from khabar_shared.health import group_check, redis_check
from khabar_shared.logging import get_logger
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.ops_http import (
    HttpMetricsMiddleware,
    fastapi_ops_router,
    install_problem_handlers,
)
from khabar_shared.ops_port import OpsPortMiddleware
from khabar_shared.outages import WAITING
from khabar_shared.problems import ProblemError, problem
from khabar_shared.redis_helpers import connect, ensure_group, wait_for_redis
from khabar_shared.search_nodes import note_applied, register
from khabar_shared.security_headers import SecurityHeadersMiddleware
from khabar_shared.shutdown import stop_consumers
from khabar_shared.text import detect_language

log = get_logger(__name__)

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
RATE_LIMITED_PATHS = ("/v1/search", "/search")


# The longest source ingest takes (its `Limits.max_byline_chars`): the page links every
# source facet as a filter, so a filter must take any source an article may carry.
MAX_SOURCE_CHARS = 300


def page_url(params: SearchParams, **changes: Any) -> str:
    """The reader page's address for `params` with some of them changed (None drops one)."""
    values: dict[str, Any] = {
        "q": params.q,
        "category": params.category,
        "tag": params.tag,
        "source": params.source,
        "lang": params.lang,
        "from": params.date_from,
        "to": params.date_to,
        "sort": params.sort if params.sort != "relevance" else None,
        "page": params.page if params.page != 1 else None,
    }
    values.update(changes)
    return "/search?" + urlencode({k: v for k, v in values.items() if v not in (None, "")})


def too_deep(page: int, per_page: int, max_depth: int) -> ProblemError:
    """The answer to a page past the deepest result readers may page to."""
    detail = (
        f"page {page} of {per_page} reaches result {page * per_page}; results past "
        f"{max_depth} are not paged to: refine your search (more words, a category, "
        "a tag, a source or dates) instead"
    )
    return problem(
        400,
        "Bad Request",
        f"Invalid parameter: page ({detail})",
        errors=[
            {
                "pointer": "page",
                "detail": TOO_DEEP.format(max_depth=max_depth),
            }
        ],
    )


def edge_assembles(request: Request) -> bool:
    """The edge in front processes ESI: the page takes the site's header and footer from render."""
    return "ESI/1.0" in request.headers.get("surrogate-capability", "")


def reader_date(iso: str, lang: str, timezone: str) -> str:
    """A hit's date as the site shows dates; empty when the index has none."""
    try:
        return human_date(datetime.fromisoformat(iso), lang, timezone)
    except ValueError:
        return ""


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    settings = settings or SearchSettings()
    failpoints.configure(settings.failpoints)
    redis = connect(settings.redis_url)
    broker = make_broker(settings.redis_url, "search", graceful_timeout_s=settings.shutdown_grace_s)
    writer = MeiliWriter(
        settings.meili_url,
        settings.meili_index_key.get_secret_value(),
        settings.meili_index,
        settings.prefix_search,
        settings.languages,
    )
    aliases = AliasStore(redis)
    node = SearchNode(settings.search_node)
    indexer = Indexer(
        redis,
        writer,
        settings.meili_retry_max_s,
        aliases,
        node,
        send_ahead=settings.index_send_ahead,
    )

    async def index_batch(deliveries: list[Delivery[EnrichedEvent]]) -> None:
        await (await start_batch(deliveries))()

    async def start_batch(deliveries: list[Delivery[EnrichedEvent]]) -> Finish:
        finish = await indexer.start(deliveries)

        async def finished() -> None:
            await finish()
            if deliveries:  # freshness for `khabar status` and traces; a lost stamp only ages
                await note_applied(redis, node.name, deliveries[-1].message_id)

        return finished

    consumer = StreamConsumer(
        stream=ENRICHED_STREAM,
        group=node.group,
        event_model=EnrichedEvent,
        handle=index_batch,
        redis=redis,
        settings=settings,
        start=start_batch,
        pipeline_depth=settings.index_pipeline_depth,
        decode=decode_for_index,
    )
    consumer.register(broker)
    pool = NodePool(
        redis, node.name, settings.meili_url, settings.search_max_lag, settings.search_node_check_s
    )
    reader = SearchClient(
        settings.meili_url,
        settings.meili_search_key.get_secret_value(),
        settings.meili_index,
        languages=settings.languages,
        transliterate=settings.transliterate,
        relax_weak=settings.relax_weak_queries,
        max_depth=settings.max_result_depth,
        pool=pool,
    )
    buckets = connect(settings.effective_cache_redis_url)
    limiter = SharedRateLimiter(
        buckets, settings.meili_index, settings.rate_limit_per_minute, settings.rate_limit_burst
    )
    alias_sync = AliasSync(aliases, writer, reader)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await wait_for_redis(redis, "log")
        await ensure_group(redis, ENRICHED_STREAM, node.group)
        await writer.ensure_index(load_synonyms())
        await register(redis, node.name, settings.meili_url)
        await broker.start()
        syncing = asyncio.create_task(alias_sync.run(settings.alias_refresh_s))
        checking = asyncio.create_task(pool.run())
        forgetting = asyncio.create_task(consumer.keep_forgetting_dead_consumers())
        yield
        syncing.cancel()
        checking.cancel()
        forgetting.cancel()
        await pool.aclose()
        await stop_consumers(broker, [consumer], settings.shutdown_grace_s)
        await writer.aclose()
        await reader.aclose()
        await buckets.aclose()
        await redis.aclose()

    app = FastAPI(
        title="khabar search",
        version="1",
        lifespan=lifespan,
        description="Readers search the archive in Arabic and English.",
    )
    install_problem_handlers(app)
    errors = ErrorPages(
        settings.site_language,
        settings.site_names(),
        settings.site_base_url,
        settings.max_query_chars,
    )
    errors.install(app)
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter,
        paths=RATE_LIMITED_PATHS,
        trusted_proxies=settings.trusted_networks,
        answer=errors.answer,
    )
    app.add_middleware(SecurityHeadersMiddleware, image_hosts=())
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(
        OpsPortMiddleware, public_port=settings.search_port, ops_port=settings.search_ops_port
    )
    app.include_router(asyncapi_router(broker, "search"))

    def readiness_detail() -> dict[str, object]:
        # This process's own node may be down while the others serve its
        # readers: said here, not a reason to be unready.
        return {
            "node": node.name,
            "search_nodes": [state.as_dict() for state in pool.nodes],
            "indexer": "; ".join(WAITING.reasons.values()) or "ok",
        }

    app.include_router(
        fastapi_ops_router(
            {
                "redis": redis_check(redis),
                "search_nodes": pool.serving,  # ready while any node serves readers
                "consumer_group": group_check(redis, ENRICHED_STREAM, node.group),
            },
            readiness_detail,
        )
    )

    @app.get("/search-nodes", include_in_schema=False)
    async def search_nodes() -> list[dict[str, object]]:
        """Every search node as this process sees it (operations port only)."""
        return [state.as_dict() for state in pool.nodes]

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # async: FastAPI would run a plain `def` dependency in a worker thread per request.
    async def read_params(
        q: Annotated[str, Query(max_length=settings.max_query_chars)] = "",
        category: Annotated[str | None, Query(max_length=64, pattern=r"^[\w-]+$")] = None,
        tag: Annotated[str | None, Query(max_length=128, pattern=r"^[a-z]+:[^\s]+$")] = None,
        source: Annotated[str | None, Query(max_length=MAX_SOURCE_CHARS)] = None,
        lang: Annotated[str | None, Query(pattern="^[a-z]{2}$")] = None,
        date_from: Annotated[date | None, Query(alias="from")] = None,
        date_to: Annotated[date | None, Query(alias="to")] = None,
        sort: Literal["relevance", "newest"] = "relevance",
        page: Annotated[int, Query(ge=1, le=1000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=settings.max_per_page)] = 10,
    ) -> SearchParams:
        if date_from and date_to and date_from > date_to:
            raise problem(
                400,
                "Bad Request",
                "Invalid parameter: from",
                errors=[{"pointer": "from", "detail": FROM_AFTER_TO}],
            )
        if page * per_page > settings.max_result_depth:
            raise too_deep(page, per_page, settings.max_result_depth)
        return SearchParams(
            q=" ".join(q.split()),
            category=category,
            tag=tag,
            source=source,
            lang=lang,
            date_from=date_from,
            date_to=date_to,
            sort=sort,
            page=page,
            per_page=per_page,
        )

    async def run_search(params: SearchParams) -> dict[str, Any]:
        try:
            return await reader.search_fields(params)
        except SearchUnavailable as error:
            log.error("meili_search_failed", error=str(error), meili_answer=error.answer)
            raise problem(
                503, "Service Unavailable", "Search is unavailable; try again."
            ) from error

    @app.get("/v1/search", response_model=SearchResult)
    async def search_api(params: Annotated[SearchParams, Depends(read_params)]) -> Response:
        # The result's fields as they are (see `result_fields`), serialized once:
        # the hot path skips pydantic's validation and FastAPI's re-validation.
        return Response(orjson.dumps(await run_search(params)), media_type="application/json")

    @app.get("/search", response_class=HTMLResponse)
    async def search_page(
        request: Request, params: Annotated[SearchParams, Depends(read_params)]
    ) -> HTMLResponse:
        browsing = params.q or params.category or params.tag or params.source
        result = SearchResult.model_validate(await run_search(params)) if browsing else None
        rtl = detect_language(params.q) == "ar" if params.q else settings.site_language == "ar"
        lang = "ar" if rtl else "en"
        edge = edge_assembles(request)
        response = TEMPLATES.TemplateResponse(
            request,
            "search.html",
            {
                "params": params,
                "result": result,
                "rtl": rtl,
                "lang": lang,
                "edge": edge,
                "site_name": settings.site_names()[lang],
                "site_url": settings.site_base_url,
                "when": lambda iso: reader_date(iso, lang, settings.site_time_zone),
                "url": lambda **changes: page_url(params, **changes),
            },
        )
        if edge:
            response.headers["Surrogate-Control"] = 'content="ESI/1.0"'
        return response

    return app
