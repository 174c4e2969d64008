"""HTTP routes of the feeds, sitemaps and robots.txt (documents in `feeds.py`).

Read from the article store on each request (the edge caches them): the
newest stories of the site or a section. Each answer names the surrogate key
that changes with it (`home` or `section:<slug>`), so render's purges reach
them at the edge like the pages.
"""

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response

from khabar_render.errors import page_problem
from khabar_render.feeds import (
    FEED_ITEMS,
    NEWS_SITEMAP_MAX,
    NEWS_WINDOW_S,
    news_sitemap,
    pages_sitemap,
    robots_txt,
    rss,
    sitemap_index,
)
from khabar_render.fragments import Teaser, teaser_from_enriched
from khabar_render.purge import HOME_KEY, section_surrogate_key
from khabar_render.settings import RenderSettings
from khabar_render.site import Site
from khabar_render.store import ArticleStore, ListingRequest

# Articles listed in the pages sitemap beside home and the sections.
PAGES_SITEMAP_ARTICLES = 1000
RSS = "application/rss+xml; charset=utf-8"
XML = "application/xml; charset=utf-8"


def feed_router(site: Site, articles: ArticleStore, settings: RenderSettings) -> APIRouter:
    router = APIRouter(tags=["feeds"])

    def answer(body: str, media_type: str, key: str) -> Response:
        return Response(
            body,
            media_type=media_type,
            headers={
                "Cache-Control": f"public, max-age={settings.cache_max_age_s}",
                "Surrogate-Key": key,
            },
        )

    async def teasers(ids: list[str]) -> list[Teaser]:
        found = await articles.live_many(ids)
        return [teaser_from_enriched(found[i]) for i in ids if i in found]

    async def section_teasers(slug: str) -> list[Teaser]:
        _, _, pages = await articles.read([], [listing := _first_page(slug)])
        return await teasers(pages[listing][0])

    @router.get("/rss.xml", summary="RSS of the newest stories of the whole site")
    async def home_rss() -> Response:
        latest = await teasers(await articles.latest(FEED_ITEMS))
        lang = site.language
        body = rss(site.label("latest", lang), "/", "/rss.xml", latest, site, lang, _now())
        return answer(body, RSS, HOME_KEY)

    @router.get("/category/{slug}/rss.xml", summary="RSS of a section's newest stories")
    async def section_rss(slug: Annotated[str, Path(max_length=64)]) -> Response:
        section = site.section(slug)
        if section not in site.sections and not await articles.section_size(section.slug):
            raise page_problem(
                404,
                "Not Found",
                f"No section '{slug}'.",
                surrogate_keys=[section_surrogate_key(section.slug)],
            )
        lang = site.language
        body = rss(
            section.label(lang),
            site.category_path(section.slug),
            site.category_path(section.slug) + "/rss.xml",
            await section_teasers(section.slug),
            site,
            lang,
            _now(),
        )
        return answer(body, RSS, section_surrogate_key(section.slug))

    @router.get("/sitemap.xml", summary="Sitemap index: the news sitemap and the pages sitemap")
    async def index() -> Response:
        return answer(
            sitemap_index(["/news-sitemap.xml", "/sitemap-pages.xml"], site), XML, HOME_KEY
        )

    @router.get("/news-sitemap.xml", summary="News sitemap: articles of the last 48 hours")
    async def news() -> Response:
        recent = await articles.latest(NEWS_SITEMAP_MAX, since_ts=time.time() - NEWS_WINDOW_S)
        return answer(news_sitemap(await teasers(recent), site), XML, HOME_KEY)

    @router.get("/sitemap-pages.xml", summary="Home, sections and the newest articles")
    async def pages() -> Response:
        newest = await teasers(await articles.latest(PAGES_SITEMAP_ARTICLES))
        slugs = [section.slug for section in site.sections]
        return answer(pages_sitemap(slugs, newest, site), XML, HOME_KEY)

    @router.get("/robots.txt", summary="What crawlers may read, and where the sitemap is")
    async def robots() -> Response:
        return answer(robots_txt(site), "text/plain; charset=utf-8", "robots")

    return router


def _first_page(slug: str) -> ListingRequest:
    return ListingRequest(slug, 1, FEED_ITEMS)


def _now() -> datetime:
    return datetime.now(UTC)
