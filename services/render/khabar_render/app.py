"""Render: keeps fragments fresh (consumer) and serves them with validators (HTTP)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request, Response
from fastapi.staticfiles import StaticFiles

from khabar_render.breaking import BreakingNews
from khabar_render.breaking_sweep import BreakingSweeper
from khabar_render.errors import install_reader_error_pages, page_problem
from khabar_render.fast_path import CachedFragments, FastPathApp, etag_matches
from khabar_render.feed_routes import feed_router
from khabar_render.fragments import category_of, render_chrome
from khabar_render.handler import FragmentUpdater
from khabar_render.media import media_router
from khabar_render.purge import EdgePurger, PurgeNotifier, section_surrogate_key, surrogate_key
from khabar_render.renderer import Renderer
from khabar_render.sanitize import ImagePolicy, use_image_hosts
from khabar_render.settings import RenderSettings
from khabar_render.site import default_site
from khabar_render.store import (
    ArticleStore,
    FragmentCache,
    LiveFragments,
    StoredFragment,
    language_of,
)
from khabar_render.warm import WarmLane
from khabar_shared import failpoints
from khabar_shared.asyncapi import asyncapi_router
from khabar_shared.broker import make_broker
from khabar_shared.consumer import StreamConsumer
from khabar_shared.events import EnrichedEvent
from khabar_shared.health import group_check, redis_check
from khabar_shared.names import ENRICHED_STREAM, RENDER_GROUP, is_article_id
from khabar_shared.ops_http import (
    HttpMetricsMiddleware,
    fastapi_ops_router,
    install_problem_handlers,
)
from khabar_shared.ops_port import OpsPortMiddleware
from khabar_shared.outages import WAITING
from khabar_shared.redis_helpers import connect, ensure_group, wait_for_redis
from khabar_shared.sections import use_sections
from khabar_shared.security_headers import SecurityHeadersMiddleware
from khabar_shared.shutdown import stop_consumers

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: RenderSettings | None = None) -> FastAPI:
    settings = settings or RenderSettings()
    failpoints.configure(settings.failpoints)
    use_sections(settings.sections_file)  # navigation, listings, breadcrumbs
    site = default_site(
        base_url=settings.site_base_url,
        arabic_digits=settings.arabic_digits,
        names=settings.site_names(),
        timezone=settings.site_time_zone,
        language=settings.site_language,
    )
    images = ImagePolicy.parse(settings.image_hosts)
    use_image_hosts(images)
    log_redis = connect(settings.redis_url)
    # When both roles are one Redis, a render's fragments are stored in the same atomic step
    # that checks the epoch and records what they show (`FragmentCache.shares_log`).
    shares_log = settings.effective_cache_redis_url == settings.redis_url
    cache_redis = connect(settings.effective_cache_redis_url)
    articles = ArticleStore(log_redis, lambda enriched: site.listings_of(category_of(enriched)))
    cache = FragmentCache(cache_redis, shares_log=shares_log)
    breaking = BreakingNews(log_redis, settings.breaking_news_s)
    renderer = Renderer(
        articles, cache, site, settings.listing_page_size, settings.home_per_section, breaking
    )
    edge = EdgePurger(settings.edge_purge_url, settings.edge_purge_token.get_secret_value())
    notifier = PurgeNotifier(settings.purge_webhook_url, edge)
    warm = WarmLane(renderer, settings.eager_render_limit, coalesce_s=settings.warm_coalesce_s)
    sweeper = BreakingSweeper(breaking, articles, cache, notifier)
    updater = FragmentUpdater(
        articles,
        cache,
        renderer,
        notifier,
        settings.listing_page_size,
        settings.eager_render_limit,
        warm,
        edge_assembles_pages=bool(settings.edge_purge_url),
    )
    broker = make_broker(settings.redis_url, "render", graceful_timeout_s=settings.shutdown_grace_s)
    consumer = StreamConsumer(
        stream=ENRICHED_STREAM,
        group=RENDER_GROUP,
        event_model=EnrichedEvent,
        handle=updater.handle,
        redis=log_redis,
        settings=settings,
    )
    consumer.register(broker)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await wait_for_redis(log_redis, "log")
        await wait_for_redis(cache_redis, "cache")
        await ensure_group(log_redis, ENRICHED_STREAM, RENDER_GROUP)
        await broker.start()
        warming = asyncio.create_task(warm.run())
        sweeping = asyncio.create_task(sweeper.run(settings.breaking_sweep_s))
        forgetting = asyncio.create_task(consumer.keep_forgetting_dead_consumers())
        yield
        forgetting.cancel()
        await stop_consumers(broker, [consumer], settings.shutdown_grace_s)
        warming.cancel()  # what it had left is cold, not stale
        sweeping.cancel()  # the next process's sweeper finds what it left
        await asyncio.gather(warming, sweeping, return_exceptions=True)
        await notifier.aclose()
        await live_fragments.aclose()
        await log_redis.aclose()
        await cache_redis.aclose()

    app = FastPathApp(
        title="khabar render",
        version="1",
        lifespan=lifespan,
        description="Cached HTML fragments and pages of articles, sections and home.",
    )
    install_problem_handlers(app)
    live_fragments = LiveFragments(log_redis, cache_redis, shared=shares_log)
    app.fast_path = lambda rest: CachedFragments(
        rest,
        live_fragments,
        lambda fragment: fragment_headers(fragment, settings),
        SecurityHeadersMiddleware(rest, image_hosts=images.hosts),
    )
    app.add_middleware(SecurityHeadersMiddleware, image_hosts=images.hosts)
    install_reader_error_pages(app, site)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(
        OpsPortMiddleware, public_port=settings.render_port, ops_port=settings.render_ops_port
    )
    app.include_router(asyncapi_router(broker, "render"))
    app.include_router(
        fastapi_ops_router(
            {
                "redis": redis_check(log_redis),
                "cache_redis": redis_check(cache_redis),
                "consumer_group": group_check(log_redis, ENRICHED_STREAM, RENDER_GROUP),
                "dependencies": WAITING.check,  # red while a consumer waits out an outage
            }
        )
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(media_router(settings.media_dir, settings.media_max_age_s))

    async def known_section(slug: str) -> str:
        """The canonical slug; only sections the site knows, or that have stories, have pages."""
        section = site.section(slug)
        if section not in site.sections and not await articles.section_size(section.slug):
            raise page_problem(
                404,
                "Not Found",
                f"No section '{slug}'.",
                surrogate_keys=[section_surrogate_key(section.slug)],
            )
        return section.slug

    async def serve(request: Request, name: str, what: str) -> Response:
        fragment = await renderer.fetch(name)
        if fragment is None:
            keys = [section_surrogate_key(name.split(":")[1])] if name.startswith("section") else []
            raise page_problem(
                404, "Not Found", f"No {what} '{name.partition(':')[2]}'.", surrogate_keys=keys
            )
        return fragment_response(request, fragment, settings)

    async def serve_page(request: Request, name: str, shell: str, what: str) -> Response:
        """A whole page, or its ESI shell when the edge in front assembles pages."""
        if not edge_assembles(request):
            return page_headers(await serve(request, name, what), esi=False)
        return page_headers(await serve(request, shell, what), esi=True)

    async def is_tombstone(article_id: str) -> bool:
        """For tombstones written before the withdrawn set was kept."""
        stored = await articles.get(article_id)
        return stored is not None and stored.status == "withdrawn"

    async def serve_article(request: Request, kind: str, article_id: str) -> Response:
        if not is_article_id(article_id):
            # Names no article, and may hold what no header can carry (its key would).
            raise page_problem(404, "Not Found", "No such article.")
        # The tombstone is checked on every read, cached fragment or not: the
        # purge that follows it may not have happened yet (a crash, a cache outage).
        fragment, withdrawn = await asyncio.gather(
            renderer.fetch(f"{kind}:{article_id}"), articles.is_withdrawn(article_id)
        )
        keys = [surrogate_key(article_id)]
        if withdrawn or (fragment is None and await is_tombstone(article_id)):
            stored = await articles.get(article_id)
            raise page_problem(
                410, "Gone", f"Article '{article_id}' was withdrawn.", language_of(stored), keys
            )
        if fragment is None:
            raise page_problem(404, "Not Found", f"No article '{article_id}'.", surrogate_keys=keys)
        return fragment_response(request, fragment, settings)

    @app.get("/fragments/article/{article_id}", summary="Article body with see-also links")
    async def article_fragment(request: Request, article_id: str) -> Response:
        return await serve_article(request, "article", article_id)

    @app.get("/fragments/related/{article_id}", summary="Related-news block of an article")
    async def related_fragment(request: Request, article_id: str) -> Response:
        return await serve_article(request, "related", article_id)

    @app.get("/fragments/card/{article_id}", summary="Teaser card of an article")
    async def card_fragment(
        request: Request, article_id: str, heading: Literal["h2", "h3"] = "h3"
    ) -> Response:
        # h2 in a section's listing, h3 under home's and the related block's headings.
        return await serve_article(request, "card-h2" if heading == "h2" else "card", article_id)

    @app.get("/articles/{article_id}", summary="The whole article page")
    async def article_page(request: Request, article_id: str) -> Response:
        esi = edge_assembles(request)
        return page_headers(
            await serve_article(request, "shell" if esi else "page", article_id), esi=esi
        )

    @app.get("/category/{slug}", summary="A section's stories, newest first")
    async def category_page(
        request: Request, slug: str, page: Annotated[int, Query(ge=1, le=10_000)] = 1
    ) -> Response:
        section = await known_section(slug)
        return await serve_page(
            request,
            f"section-page:{section}:{page}",
            f"section-shell:{section}:{page}",
            "page of section",
        )

    @app.get("/fragments/section/{slug}", summary="A section's listing, without the page around it")
    async def section_fragment(
        request: Request, slug: str, page: Annotated[int, Query(ge=1, le=10_000)] = 1
    ) -> Response:
        section = await known_section(slug)
        if settings.edge_card_includes and edge_assembles(request):  # an include per card
            return page_headers(
                await serve(request, f"section-esi:{section}:{page}", "page of section"), esi=True
            )
        return await serve(request, f"section:{section}:{page}", "page of section")

    @app.get("/", summary="Home: the latest stories of every section")
    async def home(request: Request) -> Response:
        return await serve_page(request, "home-page", "home-shell", "page")

    @app.get("/fragments/home", summary="Home's sections, without the page around them")
    async def home_fragment(request: Request) -> Response:
        if settings.edge_card_includes and edge_assembles(request):
            return page_headers(await serve(request, "home-esi", "page"), esi=True)
        return await serve(request, "home", "page")

    app.include_router(feed_router(site, articles, settings))

    @app.get("/fragments/{part}", summary="The site's header or footer, for the search page")
    async def chrome_fragment(
        part: Literal["header", "footer"],
        lang: Annotated[str, Query(pattern="^[a-z]{2}$")] = "",
    ) -> Response:
        html = render_chrome(part, lang or site.language, site)
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={
                "Cache-Control": f"public, max-age={settings.cache_max_age_s}",
                "Surrogate-Key": "chrome",
            },
        )

    return app


def fragment_headers(fragment: StoredFragment, settings: RenderSettings) -> dict[str, str]:
    return {
        "ETag": fragment.etag,
        "Cache-Control": (
            f"public, max-age={settings.cache_max_age_s}, "
            f"stale-while-revalidate={settings.cache_stale_while_revalidate_s}"
        ),
        "Surrogate-Key": " ".join(fragment.surrogate_keys),
        "Last-Modified": fragment.rendered_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "Vary": "Accept-Encoding",
    }


def fragment_response(
    request: Request, fragment: StoredFragment, settings: RenderSettings
) -> Response:
    headers = fragment_headers(fragment, settings)
    if etag_matches(request.headers.get("if-none-match", ""), fragment.etag):
        return Response(status_code=304, headers=headers)
    return Response(fragment.html, media_type="text/html; charset=utf-8", headers=headers)


def edge_assembles(request: Request) -> bool:
    """The edge in front says it processes ESI (Edge Architecture's Surrogate-Capability)."""
    return "ESI/1.0" in request.headers.get("surrogate-capability", "")


def page_headers(response: Response, esi: bool) -> Response:
    """Pages differ by whether the edge assembles them; a shell tells the edge to."""
    response.headers["Vary"] = "Accept-Encoding, Surrogate-Capability"
    if esi:
        response.headers["Surrogate-Control"] = 'content="ESI/1.0"'
    return response
