"""Builds each fragment by name from stored articles, through the cache.

Fragment names say what they are: `article:<id>`, `related:<id>`,
`page:<id>` (the whole article page), `card:<id>`, `section:<slug>:<page>`
and `section-page:<slug>:<page>` (the listing, alone and as a whole page),
`home` and `home-page`. A fragment is
rendered from the log Redis, stored in the cache with its ETag, and every
article it shows is recorded in the dependency index so that a change to any
of them purges it.

A render reads several articles one after another; if any article changed
meanwhile (the store's epoch moved), what it read may mix old and new, so it
is rendered again rather than cached.
"""

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from khabar_render.fragments import (
    PageMeta,
    Teaser,
    render_article,
    render_article_page,
    render_category_listing,
    render_home,
    render_page,
    render_related_block,
    render_teaser_card,
    teaser_from_enriched,
)
from khabar_render.purge import HOME_KEY, section_surrogate_key, surrogate_key
from khabar_render.site import Site, direction_of
from khabar_render.store import ArticleStore, FragmentCache, StoredFragment, make_fragment
from khabar_shared.events import EnrichedArticle
from khabar_shared.metrics import record_cache_lookup
from khabar_shared.logging import get_logger

log = get_logger(__name__)

SEE_ALSO_COUNT = 4
RELATED_BLOCK_COUNT = 4
RENDER_ATTEMPTS = 5


@dataclass
class Rendered:
    html: str
    shows: list[str]
    extra_keys: tuple[str, ...] = ()

    @property
    def surrogate_keys(self) -> list[str]:
        return [*(surrogate_key(i) for i in dict.fromkeys(self.shows)), *self.extra_keys]


class Renderer:
    def __init__(self, articles: ArticleStore, cache: FragmentCache, site: Site,
                 listing_page_size: int, home_per_section: int) -> None:
        self._articles = articles
        self._cache = cache
        self._site = site
        self._page_size = listing_page_size
        self._home_per_section = home_per_section

    async def fetch(self, name: str) -> StoredFragment | None:
        """The fragment from cache, or rendered now; None when there is nothing to show."""
        cached = await self._cache.get(name)
        record_cache_lookup(cached is not None)
        return cached if cached is not None else await self.refresh(name)

    async def refresh(self, name: str) -> StoredFragment | None:
        """Render `name` from the stored articles and keep it in the cache (or drop it)."""
        for _ in range(RENDER_ATTEMPTS):
            epoch = await self._articles.epoch()
            rendered = await self._render(name)
            if await self._articles.epoch() != epoch:
                continue  # an article changed while we read: what we read may be mixed
            if rendered is None:
                await self._cache.purge({name})
                await self._articles.record_shows(name, [])
                return None
            fragment = make_fragment(name, rendered.html, list(dict.fromkeys(rendered.shows)),
                                     rendered.surrogate_keys)
            await self._articles.record_shows(name, fragment.shows)
            await self._cache.put(fragment)
            return fragment
        # Under a storm of changes: answer with a fresh render, cache nothing.
        log.warning("render_not_cached_under_changes", fragment=name)
        rendered = await self._render(name)
        if rendered is None:
            return None
        return make_fragment(name, rendered.html, rendered.shows, rendered.surrogate_keys)

    async def _render(self, name: str) -> Rendered | None:
        kind, _, rest = name.partition(":")
        builders: dict[str, Callable[[str], Awaitable[Rendered | None]]] = {
            "article": self._article,
            "related": self._related,
            "page": self._page,
            "card": self._card,
            "section": self._section,
            "section-page": self._section_page,
            "home": self._home,
            "home-page": self._home_page,
        }
        builder = builders.get(kind)
        return await builder(rest) if builder else None

    async def _live(self, article_id: str) -> EnrichedArticle | None:
        return (await self._articles.live_many([article_id])).get(article_id)

    async def _links(self, enriched: EnrichedArticle) -> tuple[list[Teaser], list[Teaser]]:
        """See-also teasers (first four live related) and the related block's (the next four)."""
        ids = list(dict.fromkeys(
            link.article_id for link in enriched.related if link.article_id != enriched.article.id
        ))
        live = await self._articles.live_many(ids)
        teasers = [teaser_from_enriched(live[i]) for i in ids if i in live]
        see_also = teasers[:SEE_ALSO_COUNT]
        return see_also, teasers[SEE_ALSO_COUNT:SEE_ALSO_COUNT + RELATED_BLOCK_COUNT]

    async def _article(self, article_id: str) -> Rendered | None:
        enriched = await self._live(article_id)
        if enriched is None:
            return None
        see_also, _ = await self._links(enriched)
        fragment = render_article(enriched, see_also, self._site)
        return Rendered(fragment.html, [article_id, *fragment.shows])

    async def _related(self, article_id: str) -> Rendered | None:
        enriched = await self._live(article_id)
        if enriched is None:
            return None
        see_also, rest = await self._links(enriched)
        block = render_related_block(rest, [article_id, *(t.id for t in see_also)], self._site,
                                     lang=enriched.article.language)
        return Rendered(block.html, [article_id, *block.shows])

    async def _page(self, article_id: str) -> Rendered | None:
        enriched = await self._live(article_id)
        if enriched is None:
            return None
        see_also, rest = await self._links(enriched)
        page = render_article_page(enriched, see_also, rest, self._site)
        return Rendered(page.html, [article_id, *page.shows])

    async def _card(self, article_id: str) -> Rendered | None:
        enriched = await self._live(article_id)
        if enriched is None:
            return None
        card = render_teaser_card(teaser_from_enriched(enriched), self._site)
        return Rendered(card.html, [article_id])

    async def _section(self, rest: str) -> Rendered | None:
        slug, _, page_text = rest.partition(":")
        page = int(page_text or 1)
        ids, total = await self._articles.section_page(slug, page, self._page_size)
        pages = max(1, math.ceil(total / self._page_size))
        if page > pages:
            return None
        live = await self._articles.live_many(ids)
        teasers = [teaser_from_enriched(live[i]) for i in ids if i in live]
        fragment = render_category_listing(slug, teasers, page, pages, self._site)
        return Rendered(fragment.html, fragment.shows, (section_surrogate_key(slug),))

    async def _home(self, _: str) -> Rendered | None:
        sections: dict[str, list[Teaser]] = {}
        for section in self._site.sections:
            ids, _total = await self._articles.section_page(section.slug, 1, self._home_per_section)
            live = await self._articles.live_many(ids)
            sections[section.slug] = [teaser_from_enriched(live[i]) for i in ids if i in live]
        fragment = render_home(sections, self._site, per_section=self._home_per_section)
        return Rendered(fragment.html, fragment.shows, (HOME_KEY,))

    async def _home_page(self, _: str) -> Rendered | None:
        home = await self._home("")
        if home is None:
            return None
        return self._whole_page(home, self._site.label("latest", self._site.language), "/",
                                PageMeta(is_home=True))

    async def _section_page(self, rest: str) -> Rendered | None:
        listing = await self._section(rest)
        if listing is None:
            return None
        slug, _, page_text = rest.partition(":")
        section = self._site.section(slug)
        return self._whole_page(listing, section.label(self._site.language),
                                self._site.category_path(slug, int(page_text or 1)),
                                PageMeta(section=section.slug))

    def _whole_page(self, inner: Rendered, title: str, path: str, meta: PageMeta) -> Rendered:
        """A listing or home fragment in the site's chrome, in the site's language."""
        lang = self._site.language
        html = render_page(title, [inner.html], lang, direction_of(lang), self._site.absolute(path),
                           meta, self._site)
        return Rendered(html, inner.shows, inner.extra_keys)
