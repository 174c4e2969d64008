"""Applies enriched events: store the article, then make every fragment that shows it fresh.

Order matters for the promise that a reader never sees a changed headline or
a withdrawn article: the stored article is replaced first, then every cached
fragment that showed it (its own, other articles' see-also links and related
blocks, section listings, home) is purged and rendered again. The event is
acked only after that, by the consumer.
"""

import math

from khabar_render.purge import PurgeNotifier, purge_keys, surrogate_key
from khabar_render.renderer import Renderer
from khabar_render.store import Applied, ArticleStore, FragmentCache
from khabar_shared.consumer import Delivery
from khabar_shared.events import EnrichedEvent, newest_per_article
from khabar_shared.logging import get_logger

log = get_logger(__name__)

OWN_FRAGMENTS = ("article", "related", "page", "card")
# What a new list of related links changes: the teaser, listings and home do not show links.
LINK_FRAGMENTS = ("article", "related", "page")


def is_links_only(event: EnrichedEvent, result: Applied) -> bool:
    """A refresh of related links on the version render already shows."""
    previous = result.previous
    return (event.type == "article.related_refreshed" and previous is not None
            and previous.status == "live" and previous.version == event.version)


def is_deep_listing_page(name: str) -> bool:
    return name.startswith(("section:", "section-page:")) and not name.endswith(":1")


class FragmentUpdater:
    def __init__(self, articles: ArticleStore, cache: FragmentCache, renderer: Renderer,
                 notifier: PurgeNotifier, listing_page_size: int, eager_limit: int) -> None:
        self._articles = articles
        self._cache = cache
        self._renderer = renderer
        self._notifier = notifier
        self._page_size = listing_page_size
        self._eager_limit = eager_limit

    async def handle(self, deliveries: list[Delivery[EnrichedEvent]]) -> None:
        changed: list[str] = []
        relinked: list[str] = []
        sections: set[str] = set()
        for event in newest_per_article(d.event for d in deliveries).values():
            result = await self._apply(event)
            if not result.applied:
                log.info("stale_event_skipped", article_id=event.article_id, version=event.version)
                continue
            if is_links_only(event, result):
                relinked.append(event.article_id)
                continue
            changed.append(event.article_id)
            sections |= self._sections_touched(event, result)
        if relinked:
            await self._refresh_links(relinked)
        if changed:
            await self._refresh(changed, sections)

    async def _refresh_links(self, article_ids: list[str]) -> None:
        """Same version, new related links: only the fragments that show links change."""
        names = [f"{kind}:{article_id}" for article_id in article_ids for kind in LINK_FRAGMENTS]
        await self._cache.purge(set(names))
        for name in names:
            await self._renderer.refresh(name)
        await self._notifier.purge([surrogate_key(article_id) for article_id in article_ids])
        log.info("related_links_refreshed", articles=article_ids, rendered=len(names))

    async def _apply(self, event: EnrichedEvent) -> Applied:
        if event.type == "article.withdrawn" or event.enriched is None:
            return await self._articles.put_withdrawn(event.article_id, event.version)
        return await self._articles.put_live(event.enriched)

    def _sections_touched(self, event: EnrichedEvent, result: Applied) -> set[str]:
        """The listings the article was in before and is in now."""
        touched = set()
        if event.type != "article.withdrawn" and event.enriched is not None:
            touched.add(self._articles.section_of(event.enriched))
        if result.previous is not None and result.previous.section:
            touched.add(result.previous.section)
        return touched

    async def _refresh(self, changed: list[str], sections: set[str]) -> None:
        own = [f"{kind}:{article_id}" for article_id in changed for kind in OWN_FRAGMENTS]
        listings = await self._listing_pages(sections)
        dependents: set[str] = set()
        for article_id in changed:
            dependents |= await self._articles.dependents(article_id)
        names = {*own, *listings, *dependents, "home", "home-page"}
        await self._cache.purge(names)
        ready = self._to_render_now(own, listings, dependents)
        for name in ready:
            await self._renderer.refresh(name)
        await self._notifier.purge(purge_keys(changed, sections))
        log.info("fragments_refreshed", articles=changed, purged=len(names), rendered=len(ready))

    def _to_render_now(self, own: list[str], listings: set[str], dependents: set[str]) -> list[str]:
        """What is rendered again at once; the rest was purged and renders when asked for.

        The changed articles' own fragments, home and first listing pages come
        first; other articles' fragments that showed them follow, up to
        `eager_limit` in all, so a burst of changes never stalls the stream
        (a purged fragment is never stale, only cold).
        """
        first = [*own, "home", "home-page", *sorted(n for n in listings if not is_deep_listing_page(n))]
        rest = sorted(dependents - set(first))
        return (first + rest)[: max(self._eager_limit, len(first))]

    async def _listing_pages(self, sections: set[str]) -> set[str]:
        """Every page of each section, and one more: a page may have just emptied."""
        names: set[str] = set()
        for slug in sections:
            _, total = await self._articles.section_page(slug, 1, 1)
            pages = max(1, math.ceil(total / self._page_size)) + 1
            names |= {f"{kind}:{slug}:{page}" for page in range(1, pages + 1)
                      for kind in ("section", "section-page")}
        return names
