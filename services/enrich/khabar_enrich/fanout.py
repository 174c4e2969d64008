"""Refreshing other articles' related links when a better match arrives.

A new article is often the best link for the stories published within a few
days of it, before or after: news does not arrive in the order it was
published (time zones, late agencies, embargoes, back-filled archives), and
the lists must depend on which articles there are, not on the order they
came in. For each article published within `refresh_window_days` of the new
(or changed) one whose inline "see also" it would enter (or whose list is
not full yet, or which shows it at a score its new text changed), that
article's related list is recomputed and re-sent as
`article.related_refreshed`, at most `refresh_fanout` of them per new
article. A copy of the new article's own text is never refreshed with it.

Which articles' lists a new one enters is not which ones it finds: the
candidates read takes the postings nearest in time, a relation that is not
symmetric, and an article reads the older ones without end but the newer
ones only up to the window. So the refresh also looks at the reach
(`candidates.lua`): the articles within `refresh_reach` (settings) whose own
read may find the new one though it does not find them, published from the
window before it up to `late_arrival_days` past the window after it (an
article published days later but enriched first: its copy is kept that
long). They are refreshed as the candidates are when the new one enters
their shown list.

The candidates read is bounded (the postings nearest in time), so a list may
link to an article without being among its candidates. Enrich keeps a reverse
index beside the links: per article, the set of articles whose kept links
point at it ("who links to me", `copies.linkers_key`), written by the same
commands that write the links (in the batch's one transaction). When an article
changes or leaves the index (an update, a withdrawal, an embargo), every list
in its set is rescored with it and refreshed: a text changed beyond
recognition leaves the lists that no longer relate to it.

For the same reason a story told more often than the candidates read reaches
(syndication, a running story) has members a new telling is not a candidate
of. Each story keeps its members by publication time (`copies.story_key`,
trimmed to the copies' window); a new article of a story also reads the
`STORY_MEMBERS` members published nearest to it within the window, scores
those its candidates missed, and refreshes the lists among them it enters.
"""

from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import NamedTuple

from khabar_enrich.batch_view import BatchView
from khabar_enrich.caches import ParsedCopies
from khabar_enrich.copies import copy_key, links_key, story_key
from khabar_enrich.index import LOOKAHEAD_S, NEVER, RelatedIndex, doc_key, reach_until
from khabar_enrich.scoring import TOP_SHOWN, IndexedDoc, Match, diversify, recency, rerank
from khabar_enrich.settings import EnrichSettings
from khabar_shared.events import EnrichedArticle, RelatedLink

CONSIDERED_PER_REFRESH = 3  # matches looked at per refresh allowed
# A link's score moves a little when the same text is enriched again (document frequencies
# change as the archive grows): only a larger move is a changed text worth a refresh.
SCORE_MOVED = 0.02
# Members of its story a new telling reads beyond its candidates: a story told this often
# within the window is refreshed whole, a larger one only nearest in time.
STORY_MEMBERS = 200
_ARTICLE_ID = attrgetter("article_id")


class Refreshed(NamedTuple):
    """An older article with its new links, and the JSON its copy was kept as (see
    `events.encode_event`'s `copied_from`)."""

    enriched: EnrichedArticle
    copy_json: bytes


def enters(article_id: str, score: float, current: Sequence[RelatedLink], max_related: int) -> bool:
    """Would the new (or changed) article `article_id`, scoring `score` against another one,
    change what that one shows (its `current` links)?"""
    ids = list(map(_ARTICLE_ID, current))  # compared in C, no generator
    if article_id in ids:
        return abs(current[ids.index(article_id)].score - round(score, 4)) > SCORE_MOVED
    if len(current) < max_related:
        return True
    return score > current[min(TOP_SHOWN, len(current)) - 1].score


def finds(reader: IndexedDoc, other: IndexedDoc, query_terms: int, newest_s: float) -> bool:
    """May `reader`'s own candidates read (what a recompute of its list reads) find `other`?

    Only then may `other` enter its list: a refresh that enters it where the
    read would not leaves a list unlike a recompute, a better link pushed out.
    Both are indexed under the query terms they read by, so they share the
    terms either reads the other by; but the read keeps only the candidates
    scoring at or above its cut (`IndexedDoc.cut`, as of its enrichment), and
    reads no later than `newest_s` after it. The score is an upper bound: every
    shared query term is taken as within the nearest postings it reads.
    """
    if other.published > reader.published + newest_s:
        return False
    if reader.cut <= 0:
        return True
    posted = set(list(other.terms)[:query_terms])
    weights = [w for t, w in list(reader.terms.items())[:query_terms] if t in posted]
    return sum(weights) * recency(reader.published, other.published) >= reader.cut - 1e-9


def stays(article_id: str, score: float, current: Sequence[RelatedLink], max_related: int) -> bool:
    """Does an article already in a list (its `current` links), its text changed and now scoring
    `score`, keep a place in it?

    Only a list's own links are known, not the candidates that missed it: an
    article that now scores below every other link of a full list leaves it
    (the candidate just below may be better; the list's next refresh fills
    the place), and one that shares nothing with it leaves any list.
    """
    if score <= 0:
        return False
    others = [link.score for link in current if link.article_id != article_id]
    return len(current) < max_related or not others or round(score, 4) >= min(others)


# Who links to an article, as the batch sees them: by id, their publication time and links.
Linkers = Mapping[str, tuple[float, list[RelatedLink]]]


class Refresher:
    def __init__(self, index: RelatedIndex, copies: ParsedCopies, settings: EnrichSettings) -> None:
        self._index = index
        self._copies = copies
        self._settings = settings

    def window(self, doc: IndexedDoc) -> float:
        """Candidates published since then may be refreshed: the index attaches their links.
        (It reads none published more than the window after `doc`, see `RelatedIndex`.)"""
        if self._settings.refresh_fanout == 0:
            return NEVER
        return doc.published - self._settings.refresh_window_days * 86_400

    async def members(
        self,
        view: BatchView,
        doc: IndexedDoc,
        matches: Sequence[Match],
        added: Mapping[str, float],
    ) -> tuple[list[Match], dict[str, bytes]]:
        """The members of `doc`'s story within the window that are not among its `matches` (its
        candidates), scored, best first, with their current links: one read, only for an article
        that tells a story told before. `added`: the members the batch added to the story since
        it began, which Redis has not seen yet (see `copies.RecentCopies.members_added`)."""
        if self._settings.refresh_fanout == 0 or doc.story_id in ("", doc.article_id):
            return [], {}
        since = self.window(doc)
        until = reach_until(doc, self._settings)
        known = {m.doc.article_id for m in matches}
        found = await view.command(
            self._index.members_read(
                story_key(doc.story_id), doc, since, until, STORY_MEMBERS, links_key(""), known
            )
        )
        near = {
            i: published
            for i, published in added.items()
            if since <= published <= until and i not in known
        }
        docs, links = await self._index.members(found, near, view, links_key(""))
        others = [d for i, d in docs.items() if i not in known and i != doc.article_id]
        return rerank(doc, others), links

    async def start(
        self,
        view: BatchView,
        doc: IndexedDoc | None,
        matches: Sequence[Match],
        links: Mapping[str, bytes],
        linkers: Linkers,
        article_id: str,
        members: Sequence[Match] = (),
        member_links: Mapping[str, bytes] | None = None,
    ) -> Awaitable[list[Refreshed]]:
        """Start finding the articles whose related links the new or changed `doc` changes
        (None: the article `article_id` left the index); await the result for them, with their
        new links.

        Those are the matches within the window whose shown links `doc` changes
        (`links`: the current links of the matches published within `window`,
        as read with the candidates), likewise the `members` of its story its
        candidates missed (see `members`), and every article that links to it
        (`linkers`), rescored with it. Only reads (as the batch sees Redis, one
        round trip at most, and only when some article is to be refreshed), the
        read already on its way when this returns: the caller may work while it
        travels. The caller saves the refreshed copies with the new article.
        """
        chosen: list[Match] = []
        current: dict[str, list[RelatedLink]] = {}
        if doc is not None:
            chosen, current = self._choose(doc, matches, links)
            # The story's members beyond the candidates: a budget of their own (see `members`).
            more, more_current = self._choose(
                doc,
                members,
                member_links or {},
                len(members) * CONSIDERED_PER_REFRESH,
                reach_until(doc, self._settings),
            )
            chosen += more
            current.update(more_current)
        chosen_ids = [m.doc.article_id for m in chosen]
        others = [i for i in linkers if i not in chosen_ids]
        if not chosen and not others:
            return _ready([])
        for linker in others:
            current[linker] = linkers[linker][1]
        matched = {m.doc.article_id: m for m in matches}
        unscored = [i for i in others if i not in matched] if doc is not None else []
        refreshing = [*chosen_ids, *others]
        # The docs linked from the lists to refresh only: `current` also holds the lists of the
        # matches looked at and left alone, whose docs would come back for nothing.
        linked_ids = sorted({link.article_id for i in refreshing for link in current[i]})
        # One MGET: a command per key costs the client more than the reads cost Redis.
        keys = [
            *map(doc_key, linked_ids),
            *map(doc_key, unscored),
            *map(copy_key, refreshing),
        ]
        published = [
            *(None for _ in linked_ids),
            *(None for _ in unscored),
            *(m.doc.published for m in chosen),
            *(linkers[i][0] for i in others),
        ]
        read = await view.start_read(keys, published)
        return self._refreshed(
            doc, article_id, chosen, others, current, matched, linked_ids, unscored, read
        )

    def _choose(
        self,
        doc: IndexedDoc,
        matches: Sequence[Match],
        links: Mapping[str, bytes],
        considered: int | None = None,
        until: float | None = None,
    ) -> tuple[list[Match], dict[str, list[RelatedLink]]]:
        """The matches within the window, published before or after `doc` (`until`: by default
        as far after it as its candidates go), whose shown links `doc` would change, and the
        links they have (at most a fanout of them, from the `considered` first: by default a
        few per refresh allowed)."""
        fanout = self._settings.refresh_fanout
        if considered is None:
            considered = CONSIDERED_PER_REFRESH * fanout
        else:
            fanout = considered
        since = self.window(doc)
        if until is None:
            until = doc.published + self._settings.refresh_window_days * 86_400
        near = [m for m in matches if since <= m.doc.published <= until and not m.copy]
        near = near[:considered]
        newest_s = max(LOOKAHEAD_S, self._settings.refresh_window_days * 86_400)
        current: dict[str, list[RelatedLink]] = {}
        chosen: list[Match] = []
        for match in near:  # in order, parsing links only until the fanout is reached
            if len(chosen) == fanout:
                break
            raw = links.get(match.doc.article_id)
            if raw is None:
                continue
            current[match.doc.article_id] = self._copies.links_of(raw)
            if enters(
                doc.article_id,
                match.score,
                current[match.doc.article_id],
                self._settings.max_related,
            ) and finds(match.doc, doc, self._settings.query_terms, newest_s):
                chosen.append(match)
        return chosen, current

    async def _refreshed(
        self,
        doc: IndexedDoc | None,
        article_id: str,
        chosen: list[Match],
        others: list[str],
        current: dict[str, list[RelatedLink]],
        matched: dict[str, Match],
        linked_ids: list[str],
        unscored: list[str],
        read: Awaitable[list[bytes | None]],
    ) -> list[Refreshed]:
        values = await read
        linked = self._index.docs_from(linked_ids, values[: len(linked_ids)])
        start = len(linked_ids)
        scored = self._index.docs_from(unscored, values[start : start + len(unscored)])
        start += len(unscored)
        copies = self._copies.copies_from(
            [m.doc.article_id for m in chosen] + others, values[start:]
        )
        # The candidates whose shown links it changes, then those that link to it, rescored.
        changes: list[tuple[str, Match | None]] = [(m.doc.article_id, m) for m in chosen]
        for linker in others:
            match = matched.get(linker)
            if match is None and doc is not None and linker in scored:
                [match] = rerank(doc, [scored[linker]])
            if match is not None and match.copy:
                match = None  # a copy of its own text: never linked
            changes.append((linker, match))
        refreshed = []
        for owner, match in changes:
            copy = copies.get(owner)
            if copy is None:
                continue
            related = current[owner]  # newer than the copy's own
            new_match = None
            if doc is not None and match is not None:
                new_match = Match(doc, match.score, match.same_story, match.reasons)
            links_now = self._relink(related, linked, article_id, new_match)
            if links_now == related:
                continue
            article = copy.enriched.model_copy(
                update={"related": links_now, "enriched_at": datetime.now(UTC)}
            )
            refreshed.append(Refreshed(article, copy.event_json))
        return refreshed

    def _relink(
        self,
        current: list[RelatedLink],
        linked: dict[str, IndexedDoc],
        article_id: str,
        new_match: Match | None,
    ) -> list[RelatedLink]:
        """The article's links with `article_id`'s new match among them (its old link replaced;
        none: it leaves, as it does when it no longer `stays`); withdrawn ones drop out."""
        max_related = self._settings.max_related
        if new_match is not None and any(link.article_id == article_id for link in current):
            unmoved = enters(article_id, new_match.score, current, max_related) is False
            if unmoved:
                return current
            if not stays(article_id, new_match.score, current, max_related):
                new_match = None
        kept = [
            Match.of_link(linked[link.article_id], link)
            for link in current
            if link.article_id in linked and link.article_id != article_id
        ]
        fresh = [new_match] if new_match is not None else []
        return [m.link() for m in diversify([*kept, *fresh], max_related)]


async def _ready(value: list[Refreshed]) -> list[Refreshed]:
    return value
