"""Applies enriched events: store the article, then make every fragment that shows it fresh.

Order matters for the promise that a reader never sees a changed headline or
a withdrawn article: the stored articles are replaced first, then every cached
fragment that showed them (their own, other articles' see-also links and
related blocks, section listings, home) is purged, then the edge (and any
purge webhook) is told, and the changed articles' own fragments are rendered
again. The edge is told before any rendering: what it asks for again is
rendered from the stored articles on demand, so a withdrawal leaves the
edge's pages as soon as render's own copies are gone (or at once, when the
cache's Redis is down and render renders from the store: the batch is then
held and done again once it is back). The events are acked only after all of
it, by the consumer.

The other purged fragments are rendered again by the warm lane (`warm.py`)
after the ack, each once however many batches purged it; without a warm lane
they are rendered inline, up to `eager_limit` per batch.
"""

import math
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from khabar_render.purge import PurgeNotifier, part_key, purge_keys, surrogate_key
from khabar_render.renderer import Renderer, shown_links
from khabar_render.store import (
    Applied,
    ArticleStore,
    FragmentCache,
    RefreshReads,
    Withdrawal,
    listings_of,
    published_ts,
)
from khabar_render.warm import WarmLane
from khabar_shared import failpoints
from khabar_shared.consumer import Delivery
from khabar_shared.events import EnrichedArticle, EnrichedEvent, newest_per_article
from khabar_shared.logging import get_logger, stale_entry

log = get_logger(__name__)

# Between each two writes of a batch (tests stop the handler here; see failpoints.py).
STORED = failpoints.point("render.stored", "articles and listings written, nothing purged")
PURGED = failpoints.point("render.purged", "fragments purged, edge not told")
EDGE_PURGED = failpoints.point("render.edge_purged", "edge told, no fragment rendered again")
RENDERED = failpoints.point("render.rendered", "fragments rendered again, events not acked")

OWN_FRAGMENTS = ("article", "related", "page", "card", "shell")
# What a new list of related links may change: the body (inline links) or the related block,
# and the whole page and the edge's page shell, which show (and name) both. The teaser,
# listings and home do not show links.
PARTS = {"body": "article", "related": "related"}
PAGES = ("page", "shell")


@dataclass(frozen=True)
class Relink:
    """A refresh of an article's related links: its version, the list before and the new."""

    version: int
    before: list[str]
    after: list[str]


def link_ids(article_id: str, related: list[str]) -> list[str]:
    """Related ids as the renderer reads them: best first, no repeats, never the article."""
    return [i for i in dict.fromkeys(related) if i != article_id]


def maybe_shown(relinks: dict[str, Relink]) -> list[str]:
    """The stories re-linked articles' parts may show: under their new lists and the replaced."""
    return sorted(
        {
            i
            for article_id, relink in relinks.items()
            for i in link_ids(article_id, [*relink.after, *relink.before])
        }
    )


def related_list(enriched: EnrichedArticle | None) -> list[str]:
    return [link.article_id for link in enriched.related] if enriched else []


def is_links_only(event: EnrichedEvent, result: Applied) -> bool:
    """A refresh of related links on the version render already shows."""
    previous = result.previous
    return (
        event.type == "article.related_refreshed"
        and previous is not None
        and previous.status == "live"
        and previous.version == event.version
    )


LISTING_KINDS = ("section", "section-page", "section-shell", "section-esi")
HOME_FRAGMENTS = ["home", "home-page", "home-esi", "home-shell"]
# The edge's page shells: asked for only when the edge's copy is gone, never rendered ahead.
SHELLS = ("shell:", "section-shell:", "home-shell")


def is_deep_listing_page(name: str) -> bool:
    return name.startswith(tuple(f"{kind}:" for kind in LISTING_KINDS)) and not name.endswith(":1")


def keeps_its_place(event: EnrichedEvent, result: Applied, listings: list[str]) -> bool:
    """A newer version of a live story, in the same listings at the same time.

    Listings show it where they did; only what they show of it changed. A
    redelivery (the same version again) does not count: its first handling may
    have stopped before the edge was told of a move.
    """
    previous = result.previous
    return (
        event.type != "article.withdrawn"
        and event.enriched is not None
        and previous is not None
        and previous.status == "live"
        and previous.enriched is not None
        and previous.version < event.version
        and previous.listings == listings
        and published_ts(previous.enriched) == published_ts(event.enriched)
    )


def is_redelivered_withdrawal(event: EnrichedEvent, result: Applied) -> bool:
    """The withdrawal already stored: its tombstone was written, its purges may not have been."""
    previous = result.previous
    return (
        not result.applied
        and isinstance(change_of(event), Withdrawal)
        and previous is not None
        and previous.status == "withdrawn"
        and previous.version == event.version
    )


def change_of(event: EnrichedEvent) -> EnrichedArticle | Withdrawal:
    if event.type == "article.withdrawn" or event.enriched is None:
        return Withdrawal(event.article_id, event.version)
    return event.enriched


@dataclass
class BatchChanges:
    """What a batch of events changed, as the fragments see it."""

    changed: list[str] = field(default_factory=list)  # new versions and withdrawals
    relinked: dict[str, Relink] = field(default_factory=dict)  # same version, new related links
    sections: set[str] = field(default_factory=set)  # listings the changed were or are in
    reordered: set[str] = field(default_factory=set)  # those whose stories or order changed
    # The version and related list each live article's fragments show once the batch is purged.
    shown: dict[str, tuple[int, list[str]]] = field(default_factory=dict)


class FragmentUpdater:
    def __init__(
        self,
        articles: ArticleStore,
        cache: FragmentCache,
        renderer: Renderer,
        notifier: PurgeNotifier,
        listing_page_size: int,
        eager_limit: int,
        warm: WarmLane | None = None,
        edge_assembles_pages: bool = False,
    ) -> None:
        self._articles = articles
        # With an edge in front, readers' article pages are the edge's assembly of the
        # shell: the whole page (`page:<id>`) is asked for only by clients that bypass the
        # edge, and is rendered when one does. Purged as before, it is never stale, only cold.
        self._cold = ("page:",) if edge_assembles_pages else ()
        self._cache = cache
        self._renderer = renderer
        self._notifier = notifier
        self._page_size = listing_page_size
        self._eager_limit = eager_limit
        self._warm = warm

    async def handle(self, deliveries: list[Delivery[EnrichedEvent]]) -> None:
        async with self._exclusive():
            changes = await self._apply([*newest_per_article(d.event for d in deliveries).values()])
            failpoints.check(STORED)
            if changes.changed or changes.relinked:
                await self._refresh(changes)

    def _exclusive(self) -> AbstractAsyncContextManager[None]:
        """The warm lane waits while a batch is applied, so it never reads half of one."""
        return self._warm.hold() if self._warm else nullcontext()

    async def _apply(self, events: list[EnrichedEvent]) -> BatchChanges:
        """Store every article of the batch (one transaction), and sort out what changed."""
        results = await self._articles.put_many([change_of(event) for event in events])
        changes = BatchChanges()
        skipped: list[dict[str, Any]] = []
        for event in events:
            result = results[event.article_id]
            if not result.applied and not is_redelivered_withdrawal(event, result):
                known = result.previous.version if result.previous else None
                skipped.append(stale_entry(event, known))
            elif is_links_only(event, result):
                assert result.previous is not None
                changes.relinked[event.article_id] = Relink(
                    event.version,
                    related_list(result.previous.enriched),
                    related_list(event.enriched),
                )
                changes.shown[event.article_id] = (event.version, related_list(event.enriched))
            else:
                changes.changed.append(event.article_id)
                if event.type != "article.withdrawn" and event.enriched is not None:
                    changes.shown[event.article_id] = (event.version, related_list(event.enriched))
                touched = self._sections_touched(event, result)
                changes.sections |= touched
                if not keeps_its_place(event, result, self._listings_now(event)):
                    changes.reordered |= touched
        if skipped:
            log.info("stale_events_skipped", count=len(skipped), skipped=skipped)
        return changes

    def _sections_touched(self, event: EnrichedEvent, result: Applied) -> set[str]:
        """The listings the article was in before and is in now.

        With the one the stored version left: when this event is a redelivery,
        its first handling may have stopped before purging that listing.
        """
        touched = set()
        if event.type != "article.withdrawn" and event.enriched is not None:
            touched.update(listings_of(self._articles.section_of, event.enriched))
        if result.previous is not None:
            touched.update(result.previous.listings)
            touched.update(result.previous.left)
        return touched

    def _listings_now(self, event: EnrichedEvent) -> list[str]:
        if event.type == "article.withdrawn" or event.enriched is None:
            return []
        return listings_of(self._articles.section_of, event.enriched)

    async def _refresh(self, changes: BatchChanges) -> None:
        """Purge every fragment the batch made stale, render the changed articles' own again.

        A refresh of related links changes only the article's link-bearing
        fragments; a new version or a withdrawal changes its own fragments,
        its listings, home and every fragment that showed it.
        """
        changed = changes.changed
        own = [f"{kind}:{article_id}" for article_id in changed for kind in OWN_FRAGMENTS]
        # One round trip: the lists a re-linked article's parts may show (the new and
        # the replaced one) are known from the batch; the one it was last purged for is
        # read here, and its stories read apart only when not among those.
        reads = await self._articles.refresh_reads(
            list(changes.relinked),
            maybe_shown(changes.relinked),
            changes.sections,
            changed,
        )
        relinked, part_keys = await self._relinked_parts(changes.relinked, reads)
        homes = HOME_FRAGMENTS if changed else []
        listings = self._listing_pages(reads.section_sizes)
        dependents = reads.dependents
        purged = {*own, *relinked, *homes, *listings, *dependents}
        edge_keys = [
            *(purge_keys(changed, changes.sections, changes.reordered) if changed else []),
            *part_keys,
        ]
        # On a cache of its own, the purge raises its fence to an epoch read after this
        # batch's change: a render read before the change stores nothing after the purge.
        epoch = None if self._cache.shares_log else reads.epoch
        try:
            await self._cache.purge(purged, epoch=epoch)
        except (RedisConnectionError, RedisTimeoutError):
            # The cache's own Redis down: render renders every page from the
            # stored articles meanwhile, so the edge need not wait for it (a
            # withdrawal would stay on its pages until they expire). The batch
            # is held and tried again until the cache answers, purging render's
            # copies and then the edge once more.
            await self._notifier.purge(edge_keys)
            log.warning("edge_purged_cache_down", keys=len(edge_keys), changed=len(changed))
            raise
        failpoints.check(PURGED)
        # Deep listing pages are not rendered again: few readers page that far.
        # Nor are the edge's page shells: it asks for them only when its copy is gone.
        hot = [
            *(n for n in homes if not n.startswith(SHELLS)),
            *sorted(
                n for n in listings if not is_deep_listing_page(n) and not n.startswith(SHELLS)
            ),
        ]
        rest = sorted(dependents - {*own, *relinked, *hot})
        # The edge is told as soon as render's own copies are gone: what it asks
        # for again is rendered from the stored articles, fresh. A withdrawal
        # waits for nothing else to leave the edge's pages.
        await self._notifier.purge(edge_keys)
        # Only now: until the edge is told, the old links may still be shown.
        await self._articles.record_links_shown(changes.shown)
        failpoints.check(EDGE_PURGED)
        rendered = await self._render(own, hot, self._kept_warm(relinked), rest)
        failpoints.check(RENDERED)
        log.info(
            "fragments_refreshed",
            changed=len(changed),
            relinked=len(changes.relinked),
            relinked_fragments=len(relinked),
            purged=len(purged),
            rendered=rendered,
        )

    async def _render(
        self, own: list[str], hot: list[str], relinked: list[str], rest: list[str]
    ) -> int:
        """Render the changed articles' own fragments now, and the others now or in the warm lane.

        `hot` (home, first listing pages) and `relinked` are always rendered
        again; without a warm lane the fragments of other articles that
        showed the changed ones follow, up to `eager_limit` in all, so a burst
        of changes never stalls the stream (a purged fragment is never stale,
        only cold).
        """
        kept = self._kept_warm(own)
        if self._warm is not None:
            self._warm.discard(own)
            await self._renderer.refresh_many(kept)
            self._warm.add(hot, hot=True)
            self._warm.add([*relinked, *rest])
            return len(kept)
        now = [*kept, *relinked, *hot]
        now += rest[: max(0, self._eager_limit - len(now))]
        await self._renderer.refresh_many(now)
        return len(now)

    def _kept_warm(self, names: list[str]) -> list[str]:
        """`names` without the fragments left cold until asked (`page:<id>` behind an edge)."""
        return [name for name in names if not name.startswith(self._cold)]

    async def _relinked_parts(
        self, relinks: dict[str, Relink], reads: RefreshReads
    ) -> tuple[list[str], list[str]]:
        """The fragments of re-linked articles whose links changed, and the edge's keys for them.

        A part (the body's inline links, the related block) changed when the
        live stories it shows under the new list differ from those under any
        list it may still show: the one just replaced, and the one it was last
        purged for (a handling that stopped before its purge left the cache
        and the edge showing that one; unknown, every part counts as changed).
        A part that shows the same stories renders the same bytes: it is
        neither purged nor rendered again, and the edge keeps it.
        """
        if not relinks:
            return [], []
        shown = reads.links_shown
        lists = {}
        for article_id, relink in relinks.items():
            last = shown.get(article_id)
            if last is not None and last[0] == relink.version:
                found = (relink.after, relink.before, last[1])
                lists[article_id] = [link_ids(article_id, ids) for ids in found]
        ids = {i for found in lists.values() for listed in found for i in listed}
        unread = sorted(ids - reads.asked)
        live = reads.live | (await self._articles.live_many(unread)).keys()
        names: list[str] = []
        keys: list[str] = []
        for article_id in relinks:
            if article_id in lists:
                after, *before = lists[article_id]
                now = shown_links(after, live)
                changed = [
                    part
                    for index, part in enumerate(PARTS)
                    if any(shown_links(old, live)[index] != now[index] for old in before)
                ]
            else:
                changed = list(PARTS)
                # Shown by a render from before the parts had keys of their own, maybe.
                keys.append(surrogate_key(article_id))
            if changed:
                names += [f"{PARTS[part]}:{article_id}" for part in changed]
                names += [f"{kind}:{article_id}" for kind in PAGES]
                keys += [part_key(part, article_id) for part in changed]
        return names, keys

    def _listing_pages(self, sizes: dict[str, int]) -> set[str]:
        """Every page of each section, and one more: a page may have just emptied."""
        names: set[str] = set()
        for slug, total in sizes.items():
            pages = max(1, math.ceil(total / self._page_size)) + 1
            names |= {
                f"{kind}:{slug}:{page}" for page in range(1, pages + 1) for kind in LISTING_KINDS
            }
        return names
