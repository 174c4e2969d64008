"""Applies enriched events: store the article, then make every fragment that shows it fresh.

Order matters for the promise that a reader never sees a changed headline or
a withdrawn article: the stored article is replaced first, then every cached
fragment that showed it (its own, other articles' see-also links and related
blocks, section listings, home) is purged and rendered again. The event is
acked only after that, by the consumer.
"""

import math
from dataclasses import dataclass, field

from khabar_render.purge import PurgeNotifier, purge_keys, surrogate_key
from khabar_render.renderer import Renderer
from khabar_render.store import Applied, ArticleStore, FragmentCache, Withdrawal
from khabar_shared.consumer import Delivery
from khabar_shared.events import EnrichedArticle, EnrichedEvent, newest_per_article
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


def change_of(event: EnrichedEvent) -> EnrichedArticle | Withdrawal:
    if event.type == "article.withdrawn" or event.enriched is None:
        return Withdrawal(event.article_id, event.version)
    return event.enriched


@dataclass
class BatchChanges:
    """What a batch of events changed, as the fragments see it."""

    changed: list[str] = field(default_factory=list)  # new versions and withdrawals
    relinked: list[str] = field(default_factory=list)  # same version, new related links
    sections: set[str] = field(default_factory=set)  # listings the changed were or are in


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
        changes = await self._apply([*newest_per_article(d.event for d in deliveries).values()])
        if changes.changed or changes.relinked:
            await self._refresh(changes)

    async def _apply(self, events: list[EnrichedEvent]) -> BatchChanges:
        """Store every article of the batch (one transaction), and sort out what changed."""
        results = await self._articles.put_many([change_of(event) for event in events])
        changes = BatchChanges()
        for event in events:
            result = results[event.article_id]
            if not result.applied:
                log.info("stale_event_skipped", article_id=event.article_id, version=event.version)
            elif is_links_only(event, result):
                changes.relinked.append(event.article_id)
            else:
                changes.changed.append(event.article_id)
                changes.sections |= self._sections_touched(event, result)
        return changes

    def _sections_touched(self, event: EnrichedEvent, result: Applied) -> set[str]:
        """The listings the article was in before and is in now."""
        touched = set()
        if event.type != "article.withdrawn" and event.enriched is not None:
            touched.add(self._articles.section_of(event.enriched))
        if result.previous is not None and result.previous.section:
            touched.add(result.previous.section)
        return touched

    async def _refresh(self, changes: BatchChanges) -> None:
        """Purge every fragment the batch made stale, then render the ones readers need first.

        A refresh of related links changes only the article's link-bearing
        fragments; a new version or a withdrawal changes its own fragments,
        its listings, home and every fragment that showed it.
        """
        changed = changes.changed
        own = [f"{kind}:{article_id}" for article_id in changed for kind in OWN_FRAGMENTS]
        own += [f"{kind}:{article_id}" for article_id in changes.relinked for kind in LINK_FRAGMENTS]
        listings = await self._listing_pages(changes.sections)
        dependents = await self._articles.dependents_many(changed)
        names = {*own, *listings, *dependents}
        if changed:
            names |= {"home", "home-page"}
        await self._cache.purge(names)
        ready = self._to_render_now(own, listings, dependents, home=bool(changed))
        await self._renderer.refresh_many(ready)
        keys = purge_keys(changed, changes.sections) if changed else []
        await self._notifier.purge([*keys, *(surrogate_key(i) for i in changes.relinked)])
        log.info("fragments_refreshed", changed=len(changed), relinked=len(changes.relinked),
                 purged=len(names), rendered=len(ready))

    def _to_render_now(self, own: list[str], listings: set[str], dependents: set[str],
                       home: bool) -> list[str]:
        """What is rendered again at once; the rest was purged and renders when asked for.

        The changed articles' own fragments, home and first listing pages come
        first; other articles' fragments that showed them follow, up to
        `eager_limit` in all, so a burst of changes never stalls the stream
        (a purged fragment is never stale, only cold).
        """
        homes = ["home", "home-page"] if home else []
        first = [*own, *homes, *sorted(n for n in listings if not is_deep_listing_page(n))]
        rest = sorted(dependents - set(first))
        return (first + rest)[: max(self._eager_limit, len(first))]

    async def _listing_pages(self, sections: set[str]) -> set[str]:
        """Every page of each section, and one more: a page may have just emptied."""
        sizes = await self._articles.section_sizes(sections)
        names: set[str] = set()
        for slug, total in sizes.items():
            pages = max(1, math.ceil(total / self._page_size)) + 1
            names |= {f"{kind}:{slug}:{page}" for page in range(1, pages + 1)
                      for kind in ("section", "section-page")}
        return names
