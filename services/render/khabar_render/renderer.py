"""Builds each fragment by name from stored articles, through the cache.

Fragment names say what they are: `article:<id>`, `related:<id>`,
`page:<id>` (the whole article page), `card:<id>` (`card-h2:<id>` in a
section's listing), `section:<slug>:<page>` and `section-page:<slug>:<page>`
(the listing, alone and as a whole page), `home` and `home-page`.

For an edge that assembles pages (ESI): `shell:<id>`,
`section-shell:<slug>:<page>` and `home-shell` are the whole pages with
`<esi:include>` where the article body, related block, listing or home go;
`section-esi:<slug>:<page>` and `home-esi` are the listing and home with an
include for each card. Those two carry only a listing's key (`listing:<slug>`,
`home-listing`), not their articles': a change to one story re-fetches its
card, and the listing only when its stories or their order changed. A
fragment is rendered from the log Redis, stored in the cache with its ETag, and every
article it shows is recorded in the dependency index so that a change to any
of them purges it.

Fragments are rendered in batches: one read of everything a batch shows (the
epoch, then the articles, listings and their related stories, in two or three
round trips), pure rendering in memory, then one atomic record of what each
fragment shows and one write of the fragments, each conditional on the epoch
read first. If any article changed meanwhile (the store's epoch moved), what was
read may mix old and new, so the batch is rendered again rather than cached.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from khabar_render.breaking import BreakingNews, breaking_in, render_banner
from khabar_render.fragments import (
    DEFAULT_CARD_HEADING,
    Fragment,
    PageMeta,
    Teaser,
    assemble_article_page,
    esi_include,
    render_article,
    render_category_listing,
    render_home,
    render_page,
    render_related_block,
    render_teaser_card,
    teaser_from_enriched,
)
from khabar_render.purge import (
    HOME_KEY,
    HOME_LISTING_KEY,
    listing_surrogate_key,
    part_key,
    section_surrogate_key,
    surrogate_key,
)
from khabar_render.shells import ShellCache
from khabar_render.site import Site, direction_of
from khabar_render.store import (
    ArticleStore,
    CacheUnavailable,
    FragmentCache,
    ListingRequest,
    StoredFragment,
    encoded,
    make_fragment,
)
from khabar_render.story_package import member_ids, render_package
from khabar_shared import failpoints
from khabar_shared.events import EnrichedArticle
from khabar_shared.logging import get_logger
from khabar_shared.metrics import record_cache_lookup

log = get_logger(__name__)

SHOWS_RECORDED = failpoints.point(
    "render.shows_recorded", "dependency index written, fragments not"
)
FRAGMENTS_STORED = failpoints.point(
    "render.fragments_stored", "fragments written, nothing returned yet"
)

SEE_ALSO_COUNT = 4
RELATED_BLOCK_COUNT = 4
RENDER_ATTEMPTS = 5
# Fragments that show a section's listing page, or home's sections (and the banner above them).
SECTION_KINDS = frozenset({"section", "section-page", "section-shell", "section-esi"})
HOME_KINDS = frozenset({"home", "home-page", "home-shell", "home-esi"})
# Fragment kinds named after one article (`<kind>:<id>`), and those that show its related links.
ARTICLE_KINDS = frozenset({"article", "related", "page", "card", "card-h2", "shell"})
LINK_KINDS = frozenset({"article", "related", "page", "shell"})


@dataclass
class Rendered:
    html: str
    shows: list[str]
    extra_keys: tuple[str, ...] = ()

    @property
    def surrogate_keys(self) -> list[str]:
        return [*(surrogate_key(i) for i in dict.fromkeys(self.shows)), *self.extra_keys]


@dataclass
class Snapshot:
    """Everything a batch of fragments shows, all read after the store's epoch was."""

    epoch: int
    articles: dict[str, EnrichedArticle]
    listings: dict[ListingRequest, tuple[list[str], int]]
    flashes: list[str] = field(default_factory=list)  # breaking news, newest first
    _teasers: dict[str, Teaser] = field(default_factory=dict)

    def teasers(self, ids: Iterable[str]) -> list[Teaser]:
        """Teasers of the live articles among `ids`, in order (each built once a batch)."""
        found = []
        for article_id in ids:
            enriched = self.articles.get(article_id)
            if enriched is not None:
                if article_id not in self._teasers:
                    self._teasers[article_id] = teaser_from_enriched(enriched)
                found.append(self._teasers[article_id])
        return found


def related_ids(enriched: EnrichedArticle) -> list[str]:
    """The related stories' ids, best first, without repeats or the article itself."""
    return list(
        dict.fromkeys(
            link.article_id for link in enriched.related if link.article_id != enriched.article.id
        )
    )


def part_keys(article_id: str) -> tuple[str, str]:
    """The keys of an article's body and related block; its page and shell show both."""
    return part_key("body", article_id), part_key("related", article_id)


def shown_links(related: list[str], live: Iterable[str]) -> tuple[list[str], list[str]]:
    """The stories an article links to: inline in its body, and in its related block.

    The first live ones of its related list, best first, as `_render_parts` places
    them: a new list that leaves both the same changes none of its fragments.
    """
    alive = set(live)
    shown = [i for i in related if i in alive][: SEE_ALSO_COUNT + RELATED_BLOCK_COUNT]
    return shown[:SEE_ALSO_COUNT], shown[SEE_ALSO_COUNT:]


def split_name(name: str) -> tuple[str, str]:
    kind, _, rest = name.partition(":")
    return kind, rest


class Renderer:
    def __init__(
        self,
        articles: ArticleStore,
        cache: FragmentCache,
        site: Site,
        listing_page_size: int,
        home_per_section: int,
        breaking: BreakingNews | None = None,
    ) -> None:
        self._articles = articles
        self._breaking = breaking
        self._cache = cache
        self._site = site
        self._shells = ShellCache(site)
        self._page_size = listing_page_size
        self._home_per_section = home_per_section

    async def fetch(self, name: str) -> StoredFragment | None:
        """The fragment from cache, or rendered now; None when there is nothing to show."""
        try:
            cached = await self._cache.get(name)
        except CacheUnavailable:
            # The store is enough to render from; kept nowhere, so no purge can be
            # missed, and what is withdrawn is not in the store's live articles.
            log.warning("render_uncached_cache_down", fragment=name)
            return self._render_all([name], await self._read([name]))[name]
        record_cache_lookup(cached is not None)
        return cached if cached is not None else await self.refresh(name)

    async def refresh(self, name: str) -> StoredFragment | None:
        """Render `name` from the stored articles and keep it in the cache (or drop it)."""
        return (await self.refresh_many([name]))[name]

    async def refresh_many(self, names: Iterable[str]) -> dict[str, StoredFragment | None]:
        """Render every fragment named, record what each shows, and keep them in the cache."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        for _ in range(RENDER_ATTEMPTS):
            snapshot = await self._read(wanted)
            fragments = self._render_all(wanted, snapshot)
            shows = {
                name: fragment.shows if fragment else [] for name, fragment in fragments.items()
            }
            # Atomic with the epoch check: nothing read a half-applied change. With the
            # cache in the same Redis, the fragments are stored in that same step.
            together = encoded(fragments) if self._cache.shares_log else []
            if not await self._articles.record_shows_many(
                shows, if_epoch=snapshot.epoch, store=together
            ):
                continue
            failpoints.check(SHOWS_RECORDED)
            # Else stored only if no writer changed an article since, in one step: one that
            # did may have purged already (`FragmentCache.store`).
            if not together and not await self._cache.store(fragments, if_epoch=snapshot.epoch):
                continue
            failpoints.check(FRAGMENTS_STORED)
            return fragments
        # Under a storm of changes: answer with a fresh render, cache nothing.
        log.warning("render_not_cached_under_changes", fragments=len(wanted))
        return self._render_all(wanted, await self._read(wanted))

    def _render_all(self, names: list[str], snapshot: Snapshot) -> dict[str, StoredFragment | None]:
        batch = _Batch(snapshot, self._site, self._page_size, self._home_per_section, self._shells)
        fragments: dict[str, StoredFragment | None] = {}
        for name in names:
            rendered = batch.build(name)
            fragments[name] = (
                None
                if rendered is None
                else make_fragment(
                    name,
                    rendered.html,
                    list(dict.fromkeys(rendered.shows)),
                    rendered.surrogate_keys,
                )
            )
        return fragments

    async def _read(self, names: list[str]) -> Snapshot:
        """The epoch, then the articles and listings `names` show, then their related stories."""
        own = [rest for kind, rest in map(split_name, names) if kind in ARTICLE_KINDS]
        listings = self._listings_of(names)
        epoch, articles, pages = await self._articles.read(own, listings)
        read = set(own)
        linked = [
            i
            for kind, rest in map(split_name, names)
            if kind in LINK_KINDS and rest in articles
            for i in [*related_ids(articles[rest]), *member_ids(articles[rest])]
        ]
        listed = [i for ids, _total in pages.values() for i in ids]
        flashes = await self._flashes_for(names)
        missing = [i for i in dict.fromkeys([*linked, *listed, *flashes]) if i not in read]
        articles |= await self._articles.live_many(missing)
        return Snapshot(epoch, articles, pages, flashes)

    async def _flashes_for(self, names: list[str]) -> list[str]:
        """The breaking flashes, when a fragment shows the banner (home, a listing's first page)."""
        banner = any(
            kind in HOME_KINDS or (kind in SECTION_KINDS and rest.partition(":")[2] in ("", "1"))
            for kind, rest in map(split_name, names)
        )
        return await self._breaking.breaking() if banner and self._breaking else []

    def _listings_of(self, names: list[str]) -> list[ListingRequest]:
        requests = []
        for kind, rest in map(split_name, names):
            if kind in SECTION_KINDS:
                slug, _, page = rest.partition(":")
                requests.append(ListingRequest(slug, int(page or 1), self._page_size))
            elif kind in HOME_KINDS:
                requests += [
                    ListingRequest(section.slug, 1, self._home_per_section)
                    for section in self._site.top_sections()
                ]
        return requests


@dataclass
class _ArticleParts:
    """An article's body (with see-also links) and related block, shared by its fragments."""

    enriched: EnrichedArticle
    body: Fragment
    block: Fragment


class _Batch:
    """Renders fragments from one snapshot, each article's parts and each listing once."""

    def __init__(
        self,
        snapshot: Snapshot,
        site: Site,
        page_size: int,
        home_per_section: int,
        shells: ShellCache,
    ) -> None:
        self._snapshot = snapshot
        self._site = site
        self._shells = shells
        self._page_size = page_size
        self._home_per_section = home_per_section
        self._parts: dict[str, _ArticleParts | None] = {}
        self._listing: dict[str, Rendered | None] = {}

    def build(self, name: str) -> Rendered | None:
        kind, rest = split_name(name)
        if kind in ARTICLE_KINDS:
            return self._article_fragment(kind, rest)
        if kind in ("section", "home"):
            return self._listing_fragment(name)
        if kind == "section-esi":
            return self._section(rest, esi_cards=True)
        if kind == "home-esi":
            return self._home(esi_cards=True)
        if kind == "section-page":
            return self._section_page(rest)
        if kind == "home-page":
            return self._home_page()
        if kind == "section-shell":
            return self._section_page(rest, shell=True)
        if kind == "home-shell":
            return self._home_shell()
        return None

    def _article_fragment(self, kind: str, article_id: str) -> Rendered | None:
        if kind in ("card", "card-h2"):
            enriched = self._snapshot.articles.get(article_id)
            if enriched is None:
                return None
            heading = "h2" if kind == "card-h2" else DEFAULT_CARD_HEADING
            teaser = self._snapshot.teasers([article_id])[0]
            return Rendered(render_teaser_card(teaser, self._site, heading).html, [article_id])
        if kind == "shell":
            return self._article_shell(article_id)
        parts = self._article_parts(article_id)
        if parts is None:
            return None
        body_key, block_key = part_keys(article_id)
        if kind == "article":
            return Rendered(parts.body.html, [article_id, *parts.body.shows], (body_key,))
        if kind == "related":
            return Rendered(parts.block.html, [article_id, *parts.block.shows], (block_key,))
        page = assemble_article_page(parts.enriched, parts.body, parts.block, self._site)
        return Rendered(page.html, [article_id, *page.shows], (body_key, block_key))

    def _article_shell(self, article_id: str) -> Rendered | None:
        """The article's page with its body and related block left to the edge to include.

        It shows (and names in its surrogate keys) what the whole page shows:
        the edge caches the page it assembles under the shell's keys.
        """
        parts = self._article_parts(article_id)
        if parts is None:
            return None
        return Rendered(
            self._shells.html(parts.enriched),
            [article_id, *parts.body.shows, *parts.block.shows],
            part_keys(article_id),
        )

    def _article_parts(self, article_id: str) -> _ArticleParts | None:
        if article_id not in self._parts:
            self._parts[article_id] = self._render_parts(article_id)
        return self._parts[article_id]

    def _render_parts(self, article_id: str) -> _ArticleParts | None:
        """See-also: the first four live related stories; the related block: the next four."""
        enriched = self._snapshot.articles.get(article_id)
        if enriched is None:
            return None
        teasers = self._snapshot.teasers(related_ids(enriched))
        see_also = teasers[:SEE_ALSO_COUNT]
        rest = teasers[SEE_ALSO_COUNT : SEE_ALSO_COUNT + RELATED_BLOCK_COUNT]
        body = render_article(enriched, see_also, self._site)
        block = render_related_block(
            rest,
            [article_id, *(t.id for t in see_also)],
            self._site,
            lang=enriched.article.language,
        )
        package = render_package(enriched, self._snapshot.teasers(member_ids(enriched)), self._site)
        block = Fragment(html=package.html + block.html, shows=[*package.shows, *block.shows])
        return _ArticleParts(enriched, body, block)

    def _listing_fragment(self, name: str) -> Rendered | None:
        """A section page or home, once a batch even when its whole page is rendered too."""
        if name not in self._listing:
            kind, rest = split_name(name)
            self._listing[name] = self._section(rest) if kind == "section" else self._home()
        return self._listing[name]

    def _section(self, rest: str, esi_cards: bool = False) -> Rendered | None:
        slug, _, page_text = rest.partition(":")
        page = int(page_text or 1)
        ids, total = self._snapshot.listings[ListingRequest(slug, page, self._page_size)]
        pages = max(1, math.ceil(total / self._page_size))
        if page > pages:
            return None
        fragment = render_category_listing(
            slug, self._snapshot.teasers(ids), page, pages, self._site, esi_cards
        )
        banner = self._banner(slug) if page == 1 else Fragment(html="", shows=[])
        if esi_cards:
            # Shows its stories only through their cards: what it depends on is the listing
            # (and the breaking news above it, by the flashes' own keys).
            return Rendered(
                banner.html + fragment.html, banner.shows, (listing_surrogate_key(slug),)
            )
        return Rendered(
            banner.html + fragment.html,
            [*banner.shows, *fragment.shows],
            (section_surrogate_key(slug),),
        )

    def _banner(self, slug: str | None) -> Fragment:
        """Breaking news above home (`slug` None) or a listing's first page (its slug)."""
        live = self._snapshot.articles
        flashes = [live[i] for i in self._snapshot.flashes if i in live]
        return render_banner(breaking_in(flashes, self._site, slug), self._site)

    def _home(self, esi_cards: bool = False) -> Rendered:
        sections = {
            section.slug: self._snapshot.teasers(
                self._snapshot.listings[ListingRequest(section.slug, 1, self._home_per_section)][0]
            )
            for section in self._site.top_sections()
        }
        fragment = render_home(sections, self._site, self._home_per_section, esi_cards)
        banner = self._banner(None)
        if esi_cards:
            return Rendered(banner.html + fragment.html, banner.shows, (HOME_LISTING_KEY,))
        return Rendered(banner.html + fragment.html, [*banner.shows, *fragment.shows], (HOME_KEY,))

    def _home_page(self) -> Rendered | None:
        home = self._listing_fragment("home")
        if home is None:
            return None
        return self._whole_page(
            home, self._site.label("latest", self._site.language), "/", PageMeta(is_home=True)
        )

    def _home_shell(self) -> Rendered:
        """Home's page around an include of its sections, with the whole page's keys.

        The edge caches the page it assembles under the shell's keys: they
        name every story home shows, home's and its listing's.
        """
        home = self._listing_fragment("home")
        return self._whole_page(
            Rendered(
                esi_include("/fragments/home").html,
                home.shows if home else [],
                (HOME_KEY, HOME_LISTING_KEY),
            ),
            self._site.label("latest", self._site.language),
            "/",
            PageMeta(is_home=True),
        )

    def _section_page(self, rest: str, shell: bool = False) -> Rendered | None:
        slug, _, page_text = rest.partition(":")
        listing = self._listing_fragment(f"section:{rest}")
        if listing is None:
            return None
        if shell:
            # The shell exists while the listing page does. It names what the
            # whole page would (its stories and section) and the listing: the
            # edge caches the page it assembles under the shell's keys.
            query = "" if int(page_text or 1) <= 1 else f"?page={int(page_text)}"
            include = esi_include(f"/fragments/section/{quote(slug, safe='')}{query}")
            listing = Rendered(
                include.html, listing.shows, (*listing.extra_keys, listing_surrogate_key(slug))
            )
        section = self._site.section(slug)
        return self._whole_page(
            listing,
            section.label(self._site.language),
            self._site.category_path(slug, int(page_text or 1)),
            PageMeta(section=section.slug),
        )

    def _whole_page(self, inner: Rendered, title: str, path: str, meta: PageMeta) -> Rendered:
        """A listing or home fragment in the site's chrome, in the site's language."""
        lang = self._site.language
        html = render_page(
            title,
            [inner.html],
            lang,
            direction_of(lang),
            self._site.absolute(path),
            meta,
            self._site,
        )
        return Rendered(html, inner.shows, inner.extra_keys)
