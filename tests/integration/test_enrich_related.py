"""Related stories against a real Redis: the handler as the consumer runs it, on corpus articles."""

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import structlog

from khabar_dev.corpus import ANT, corpus_file
from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_enrich.batch_view import BatchView
from khabar_enrich.caches import ParsedDocs
from khabar_enrich.copies import copy_key, linkers_key, links_key
from khabar_enrich.handler import Enricher
from khabar_enrich.index import COUNT_KEY, RelatedIndex, doc_key, term_key
from khabar_enrich.recompute import related_now
from khabar_enrich.scoring import IndexedDoc, published_at, recency
from khabar_enrich.settings import EnrichSettings
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.consumer import Delivery, logging_context
from khabar_shared.events import Article, ArticleEvent, EnrichedEvent, decode_event
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.redis_helpers import RedisClient, connect

CORPUS = corpus_file(ANT)
# Silver same-story pairs (different outlets, same or next day), all early in the corpus.
PAIRS = [
    ("fr-economy-3-20180210", "al-economy-49-20180211"),
    ("al-internationalnews-40-20180216", "fr-middleeast-11-20180216"),
    ("al-technology-5-20180216", "sk-technology-12-20180216"),
    ("al-sport-19-20180217", "sk-sport-19-20180217"),
    ("al-sport-25-20180217", "sk-sport-17-20180217"),
]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("enrich-redis"), free_port())
    finally:
        group.stop_all()


@pytest.fixture(scope="module")
def corpus() -> list[Article]:
    """The first 1,500 ANT articles, oldest first."""
    return list(iter_corpus(CORPUS, limit=1500))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect(redis_url, cluster=False)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def enricher(redis: RedisClient, redis_url: str) -> Enricher:
    settings = EnrichSettings(redis_url=redis_url)
    return Enricher(redis, RelatedIndex(redis, settings), settings)


def event(article: Article, version: int = 1, **changes: object) -> ArticleEvent:
    return ArticleEvent(
        event_id=str(uuid.uuid4()),
        type="article.withdrawn" if changes.get("pubstatus") == "canceled" else "article.published",
        article_id=article.id,
        version=version,
        correlation_id=str(uuid.uuid4()),
        accepted_at=datetime.now(UTC),
        submitted_by="test",
        article=article.model_copy(update=changes),
    )


async def enrich_all(enricher: Enricher, articles: list[Article]) -> dict[str, list[EnrichedEvent]]:
    """Enrich in order; every event each article produced."""
    produced: dict[str, list[EnrichedEvent]] = {}
    for article in articles:
        produced[article.id] = await enricher.enrich(event(article))
    return produced


def by_id(corpus: list[Article], *ids: str) -> list[Article]:
    index = {a.id: a for a in corpus}
    return [index[i] for i in ids]


def first_of_day(corpus: list[Article], day: str, count: int) -> list[Article]:
    return [a for a in corpus if a.id.endswith(day)][:count]


async def test_related_never_holds_itself_and_links_real_indexed_articles(
    enricher: Enricher, redis: RedisClient, corpus: list[Article]
) -> None:
    articles = corpus[:120]
    produced = await enrich_all(enricher, articles)
    seen: set[str] = set()
    for article in articles:
        enriched = produced[article.id][0].enriched
        assert enriched is not None
        ids = [link.article_id for link in enriched.related]
        assert article.id not in ids
        assert set(ids) <= seen, "only articles enriched before can be linked"
        assert len(ids) == len(set(ids)) <= 8
        assert all(link.reasons for link in enriched.related)
        seen.add(article.id)
    assert sum(bool(produced[a.id][0].enriched.related) for a in articles[20:]) >= 90  # type: ignore[union-attr]


async def test_a_withdrawn_article_leaves_the_index_and_every_later_list(
    enricher: Enricher, redis: RedisClient, corpus: list[Article]
) -> None:
    older, newer = by_id(corpus, "al-sport-19-20180217", "sk-sport-19-20180217")
    background = first_of_day(corpus, "20180217", 30)
    await enrich_all(enricher, [a for a in background if a.id != newer.id])
    withdrawn = await enricher.enrich(event(older, 2, pubstatus="canceled"))
    assert [e.type for e in withdrawn] == ["article.withdrawn"]
    assert await redis.get(doc_key(older.id)) is None
    assert await redis.zscore(term_key("ar", "e:org:real-madrid"), older.id) is None
    events = await enricher.enrich(event(newer))
    for produced in events:
        assert produced.enriched is not None
        assert older.id not in [link.article_id for link in produced.enriched.related]


async def test_the_same_story_from_another_outlet_shares_a_story_and_a_top_four_place(
    enricher: Enricher, corpus: list[Article]
) -> None:
    ids = [i for pair in PAIRS for i in pair]
    background = [a for a in corpus if a.id.endswith(("20180216", "20180217")) and a.id not in ids][
        :80
    ]
    articles = sorted(
        [*by_id(corpus, *ids), *background], key=lambda a: a.firstcreated or a.versioncreated
    )
    produced = await enrich_all(enricher, articles)
    final = {}
    for article in articles:  # later refreshes replace earlier lists
        for enriched_event in produced[article.id]:
            final[enriched_event.article_id] = enriched_event.enriched
    for a, b in PAIRS:
        assert final[a].story_id == final[b].story_id, (a, b)
        assert b in [link.article_id for link in final[a].related[:4]], (a, b)
        assert a in [link.article_id for link in final[b].related[:4]], (a, b)
        later = b if final[b].article.versioncreated >= final[a].article.versioncreated else a
        other = a if later == b else b
        link = next(link for link in final[later].related if link.article_id == other)
        assert "same story" in link.reasons
    stories = {final[a].story_id for a, _ in PAIRS}
    assert len(stories) == len(PAIRS)


async def test_prefers_the_recent_telling_of_a_similar_story(
    enricher: Enricher, corpus: list[Article]
) -> None:
    anchor, partner = by_id(corpus, "al-sport-25-20180217", "sk-sport-17-20180217")
    when = anchor.firstcreated or anchor.versioncreated
    paragraphs = partner.body_html.split("</p>")
    old = partner.model_copy(
        update={
            "id": "old-copy",
            "uri": "old-copy",
            # Not the same text (copies count as one story): a shorter telling.
            "body_html": "</p>".join(paragraphs[: len(paragraphs) * 2 // 3]),
            "firstcreated": when - timedelta(days=120),
            "versioncreated": when - timedelta(days=120),
        }
    )
    recent = partner.model_copy(
        update={
            "id": "recent-copy",
            "uri": "recent-copy",
            "firstcreated": when - timedelta(days=2),
            "versioncreated": when - timedelta(days=2),
        }
    )
    await enrich_all(enricher, [old, recent])
    [produced, *_] = await enricher.enrich(event(anchor))
    ranked = [link.article_id for link in produced.enriched.related]  # type: ignore[union-attr]
    assert ranked.index("recent-copy") < ranked.index("old-copy")


async def test_a_new_telling_refreshes_the_older_articles_it_improves(
    enricher: Enricher, corpus: list[Article]
) -> None:
    first, second = by_id(
        corpus, "fr-middleeast-11-20180216", "al-internationalnews-40-20180216"
    )  # oldest first
    background = [
        a for a in first_of_day(corpus, "20180216", 40) if a.id not in (first.id, second.id)
    ]
    await enrich_all(enricher, [*background, first])
    before = (await enricher.enrich(event(first, 3)))[0].enriched
    assert before is not None and second.id not in [link.article_id for link in before.related]
    events = await enricher.enrich(event(second))
    refreshed = [e for e in events if e.type == "article.related_refreshed"]
    assert 1 <= len(refreshed) <= EnrichSettings().refresh_fanout
    mine = next(e for e in refreshed if e.article_id == first.id)
    assert mine.version == 3 and mine.enriched is not None and mine.enriched.version == 3
    assert mine.enriched.article.headline == first.headline
    assert second.id in [link.article_id for link in mine.enriched.related[:4]]
    for other in refreshed:
        assert other.enriched is not None
        assert other.article_id not in [link.article_id for link in other.enriched.related]


async def test_an_older_version_after_a_newer_one_is_skipped(
    enricher: Enricher, redis: RedisClient, corpus: list[Article]
) -> None:
    article = corpus[0]
    newer = event(article, 3, headline=article.headline + " (محدث)")
    older = event(article, 2)
    await enricher.handle([Delivery("1-0", newer)])
    await enricher.handle([Delivery("2-0", older), Delivery("3-0", event(corpus[1], 1))])
    entries = await redis.xrange(ENRICHED_STREAM)
    written = [decode_event(EnrichedEvent, fields) for _, fields in entries]
    mine = [e for e in written if e.article_id == article.id and e.type == "article.enriched"]
    assert [e.version for e in mine] == [3]
    assert mine[0].enriched is not None and mine[0].enriched.article.headline.endswith("(محدث)")
    assert any(e.article_id == corpus[1].id for e in written)
    assert int(await redis.get(COUNT_KEY)) == 2


def summary(events: list[EnrichedEvent]) -> list[tuple[object, ...]]:
    """What an event says, without its random ids and times."""
    return [
        (
            e.type,
            e.article_id,
            e.version,
            e.enriched
            and (
                e.enriched.story_id,
                [t.id for t in e.enriched.tags],
                [(link.article_id, link.score, link.reasons) for link in e.enriched.related],
            ),
        )
        for e in events
    ]


async def test_a_batch_gives_what_its_events_give_one_by_one(
    redis: RedisClient, redis_url: str, corpus: list[Article]
) -> None:
    articles = first_of_day(corpus, "20180216", 60)
    events = [event(a) for a in articles]
    events.insert(20, event(articles[3], 2, headline=articles[3].headline + " (محدث)"))  # an update
    events.insert(40, event(articles[10], 3, pubstatus="canceled"))  # a withdrawal
    events.insert(50, event(articles[12], 1))  # a repeat

    # Enough before them that the df cache is taken afresh in the middle of the batch
    # (see DF_CACHE_CALLS), so its frequencies count what the batch indexed before.
    background = [event(a) for a in corpus if a not in articles][:170]

    async def fresh() -> Enricher:
        await redis.flushdb()
        settings = EnrichSettings(redis_url=redis_url)
        enricher = Enricher(redis, RelatedIndex(redis, settings), settings)
        await enricher.enrich_batch(background)
        return enricher

    one_by_one = await fresh()
    alone = [produced for e in events for produced in await one_by_one.enrich(e)]
    left_alone = await index_state(redis)
    together = await (await fresh()).enrich_batch(events)
    assert summary(together) == summary(alone)
    assert any(e.type == "article.related_refreshed" for e in together)
    # The batch's writes wait until its end (see `batch_view.py`): what they leave is the same,
    # e.g. the article withdrawn after it was indexed in the batch is not written back.
    left_together = await index_state(redis)
    assert left_together == left_alone
    assert doc_key(articles[10].id) not in left_together
    assert doc_key(articles[3].id) in left_together


async def index_state(redis: RedisClient) -> dict[str, object]:
    """Enrich's index, copies' links and revisions (which articles have one), by key."""
    state: dict[str, object] = {}
    for key in sorted(k.decode() for k in await redis.keys("khabar:{enrich}:*")):
        if ":doc:" in key or ":links:" in key or key.endswith((":docs", ":df")):
            kind = (await redis.type(key)).decode()
            state[key] = await redis.get(key) if kind == "string" else await redis.hgetall(key)
        elif key.endswith(":revs"):
            state[key] = sorted(await redis.hkeys(key))
        else:
            state[key] = (await redis.type(key)).decode()
    return state


async def test_docs_the_process_forgot_come_with_their_candidates(
    redis: RedisClient, redis_url: str, corpus: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive larger than the process's doc cache: the candidates it forgot come back with
    the candidates read, never through a read of their own, and the links are the same."""
    events = [event(a) for a in corpus[:300]]
    extra_reads = 0
    read = BatchView.read

    async def counted(
        self: BatchView, keys: Sequence[str], published: Sequence[float | None]
    ) -> list[bytes | None]:
        nonlocal extra_reads
        extra_reads += 1
        return await read(self, keys, published)

    async def run(cache_size: int) -> list[EnrichedEvent]:
        await redis.flushdb()
        settings = EnrichSettings(redis_url=redis_url)
        index = RelatedIndex(redis, settings)
        index._parsed = ParsedDocs(cache_size)
        enricher = Enricher(redis, index, settings)
        batches = [events[start : start + 50] for start in range(0, len(events), 50)]
        return [e for batch in batches for e in await enricher.enrich_batch(batch)]

    remembering = await run(1000)
    monkeypatch.setattr(BatchView, "read", counted)
    forgetting = await run(60)
    assert extra_reads == 0
    assert summary(forgetting) == summary(remembering)


async def test_a_later_telling_enriched_first_is_refreshed_by_the_earlier_one(
    enricher: Enricher, corpus: list[Article]
) -> None:
    """Arrival order does not matter: the article published later but enriched first gets the
    earlier one in its list when that one arrives (issue 20)."""
    earlier, later = by_id(corpus, "fr-middleeast-11-20180216", "al-internationalnews-40-20180216")
    assert published_at(earlier) < published_at(later)
    background = [
        a for a in first_of_day(corpus, "20180216", 40) if a.id not in (earlier.id, later.id)
    ]
    await enrich_all(enricher, background)
    [first_arrived, *_] = await enricher.enrich(event(later))
    assert first_arrived.enriched is not None
    assert earlier.id not in [link.article_id for link in first_arrived.enriched.related]
    produced = await enricher.enrich(event(earlier))
    own = produced[0].enriched
    assert own is not None and later.id in [link.article_id for link in own.related[:4]]
    refreshed = {e.article_id: e for e in produced if e.type == "article.related_refreshed"}
    assert later.id in refreshed, "the later article, enriched first, is refreshed"
    mine = refreshed[later.id].enriched
    assert mine is not None and mine.version == 1 and mine.article.headline == later.headline
    assert earlier.id in [link.article_id for link in mine.related[:4]]


async def test_an_article_published_days_before_arriving_after_enters_the_list_it_would_get(
    redis: RedisClient, redis_url: str, corpus: list[Article]
) -> None:
    """An article published more than the window before another (whose candidates read reaches
    it: older ones without end) but arriving after it refreshes that one's list: its list is the
    same in either order and the same as a recompute (issue 20)."""
    earlier, later = by_id(corpus, "fr-middleeast-11-20180216", "al-internationalnews-40-20180216")
    settings = EnrichSettings(redis_url=redis_url)
    days_before = settings.refresh_window_days + 2
    at = published_at(later) - days_before * 86_400
    stamp = datetime.fromtimestamp(at, UTC)
    earlier = earlier.model_copy(update={"firstcreated": stamp, "versioncreated": stamp})
    background = [
        a for a in first_of_day(corpus, "20180216", 40) if a.id not in (earlier.id, later.id)
    ]
    kept: dict[str, list[str]] = {}
    for arrival in ([*background, later, earlier], [earlier, *background, later]):
        index, lists = await kept_in_arrival(redis, settings, arrival)
        kept[arrival[0].id] = lists[later.id]
        now = await related_now(redis, index, [later.id], settings.max_related)
        assert lists[later.id][:4] == [link.article_id for link in now[later.id]][:4]
    assert earlier.id in kept[earlier.id][:4], "found when it came first"
    assert kept[background[0].id][:4] == kept[earlier.id][:4], "the same when it came last"


async def test_kept_lists_are_what_a_recompute_gives_in_either_arrival_order(
    redis: RedisClient, redis_url: str, corpus: list[Article]
) -> None:
    """An article is found by exactly those it finds (both read by the terms they are indexed
    under): a refresh enters a new article only in lists a recompute gives it, and reaches
    every list it belongs in, whichever of the two came first (issue 20)."""
    days = sorted(
        [a for a in corpus if a.id.endswith(("20180216", "20180217"))][:120], key=published_at
    )
    settings = EnrichSettings(redis_url=redis_url)
    for arrival in (days, days[::-1]):
        index, lists = await kept_in_arrival(redis, settings, arrival)
        now = await related_now(redis, index, list(lists), settings.max_related)
        unlike = {
            i: (lists[i][:4], [link.article_id for link in now[i]][:4])
            for i in lists
            if set(lists[i][:4]) != {link.article_id for link in now[i][:4]}
        }
        assert unlike == {}


async def test_a_refresh_enters_an_article_only_where_the_lists_own_read_may_find_it(
    redis: RedisClient, redis_url: str, corpus: list[Article]
) -> None:
    """A list's own candidates read keeps only those at or above its cut: a refresh never enters
    an article scoring below it from the list's side, which a recompute would not read back
    (issue 20). A small `rerank` makes cuts that matter."""
    days = sorted(
        [a for a in corpus if a.id.endswith(("20180216", "20180217"))][:120], key=published_at
    )
    settings = EnrichSettings(redis_url=redis_url, rerank=8)
    enricher = Enricher(redis, RelatedIndex(redis, settings), settings)
    lists: dict[str, list[str]] = {}
    entered: list[tuple[str, str]] = []  # (list, the article a refresh entered in it)
    for article in days:
        for produced in await enricher.enrich(event(article)):
            assert produced.enriched is not None
            ids = [link.article_id for link in produced.enriched.related]
            if produced.type == "article.related_refreshed" and article.id not in lists.get(
                produced.article_id, []
            ):
                entered.append((produced.article_id, article.id))
            lists[produced.article_id] = ids
    assert len(entered) > 20
    docs = {i: IndexedDoc.loads(await redis.get(doc_key(i)) or b"") for i in lists}
    assert sum(d.cut > 0 for d in docs.values()) > 60, "the reads' cuts are kept with the docs"
    for owner, article_id in entered:
        reader, other = docs[owner], docs[article_id]
        query = list(reader.terms)[: settings.query_terms]
        posted = list(other.terms)[: settings.query_terms]
        score = sum(reader.terms[t] for t in query if t in posted)
        assert score * recency(reader.published, other.published) >= reader.cut - 1e-9


async def test_copies_of_one_text_are_one_story_never_linked_to_each_other_nor_both_listed(
    enricher: Enricher, corpus: list[Article]
) -> None:
    """Syndication and re-sends under a new uri (issue 20)."""
    anchor, original = by_id(corpus, "al-sport-25-20180217", "sk-sport-17-20180217")
    background = [
        a for a in first_of_day(corpus, "20180217", 30) if a.id not in (anchor.id, original.id)
    ]
    later = (original.firstcreated or original.versioncreated) + timedelta(days=4)
    resent = original.model_copy(
        update={"id": "resent", "uri": "resent", "firstcreated": later, "versioncreated": later}
    )
    syndicated = original.model_copy(update={"id": "syndicated", "uri": "syndicated"})
    produced = await enrich_all(enricher, [*background, original, anchor, syndicated, resent])
    final: dict[str, list[str]] = {}
    stories: dict[str, str] = {}
    for events in produced.values():
        for produced_event in events:
            assert produced_event.enriched is not None
            final[produced_event.article_id] = [
                link.article_id for link in produced_event.enriched.related
            ]
            if produced_event.type == "article.enriched":
                stories[produced_event.article_id] = produced_event.enriched.story_id
    copies = {original.id, "resent", "syndicated"}
    for copy in copies:
        assert not copies & set(final[copy]), (copy, final[copy])
        assert stories[copy] == stories[original.id]
    for article_id, links in final.items():
        assert len(copies & set(links)) <= 1, (article_id, links)
    assert copies & set(final[anchor.id][:4]), "the story is still linked, once"


async def test_a_new_article_refreshes_every_list_it_enters_not_only_a_few(
    enricher: Enricher, corpus: list[Article]
) -> None:
    """Lists with room take the new article: each of them is refreshed (issue 20: every one)."""
    day = [a for a in first_of_day(corpus, "20180217", 200) if "-sport-" in a.id][:8]
    await enrich_all(enricher, day[:7])  # seven lists of at most six links: room in each
    produced = await enricher.enrich(event(day[7]))
    own = produced[0].enriched
    assert own is not None
    linked = {link.article_id for link in own.related}
    refreshed = {e.article_id for e in produced if e.type == "article.related_refreshed"}
    assert len(linked) > 4
    assert refreshed == linked


def final_lists(
    produced: Iterable[EnrichedEvent],
    lists: dict[str, list[str]],
    scores: dict[str, dict[str, float]],
) -> None:
    """Each article's related ids (and their scores) as the events left them (a later event
    replaces a list)."""
    for produced_event in produced:
        if produced_event.enriched is not None:
            related = produced_event.enriched.related
            lists[produced_event.article_id] = [link.article_id for link in related]
            scores[produced_event.article_id] = {link.article_id: link.score for link in related}


async def kept_in_arrival(
    redis: RedisClient, settings: EnrichSettings, arrival: list[Article]
) -> tuple[RelatedIndex, dict[str, list[str]]]:
    """From an empty store, `arrival` enriched in that order: the index, and each article's
    related ids as the events left them."""
    await redis.flushdb()
    index = RelatedIndex(redis, settings)
    lists: dict[str, list[str]] = {}
    produced = await enrich_all(Enricher(redis, index, settings), arrival)
    final_lists([e for events in produced.values() for e in events], lists, {})
    return index, lists


async def test_an_article_rewritten_beyond_recognition_leaves_every_list_that_linked_to_it(
    enricher: Enricher, redis: RedisClient, corpus: list[Article]
) -> None:
    """An update with wholly new text: the lists that showed it let it go, also those that do
    not find it among their candidates any more, and its new partners take it (issue 20)."""
    new_text, partner = by_id(corpus, "al-sport-19-20180217", "sk-sport-19-20180217")
    day = [*first_of_day(corpus, "20180216", 60), partner]
    lists: dict[str, list[str]] = {}
    scores: dict[str, dict[str, float]] = {}
    for article in day:
        final_lists(await enricher.enrich(event(article)), lists, scores)
    linked_by = Counter(i for owner, ids in lists.items() for i in ids if owner != partner.id)
    rewritten = next(a for a in day if "-sport-" not in a.id and linked_by[a.id] > 2)
    former = {owner for owner, ids in lists.items() if rewritten.id in ids}
    strong = {owner for owner in former if scores[owner][rewritten.id] > 0.1}
    # The reverse index holds who links to it, as their kept links say.
    assert {m.decode() for m in await redis.smembers(linkers_key(rewritten.id))} == former
    update = event(
        rewritten,
        2,
        headline=new_text.headline,
        lead=new_text.lead,
        body_html=new_text.body_html,
        category=new_text.category,
        category_name=new_text.category_name,
        subjects=new_text.subjects,
        places=new_text.places,
    )
    produced = await enricher.enrich(update)
    final_lists(produced, lists, scores)
    refreshed = {e.article_id for e in produced if e.type == "article.related_refreshed"}
    # Linked for what the old text said (more than a word or two in common): every such list
    # is refreshed and lets it go.
    assert len(strong) >= 3
    assert strong <= refreshed
    still = sorted(owner for owner in strong if rewritten.id in lists[owner])
    assert still == [], "lists that linked to the old text still show it"
    assert rewritten.id in lists[partner.id][:4], "its new partner takes it"
    now = {m.decode() for m in await redis.smembers(linkers_key(rewritten.id))}
    assert now == {owner for owner, ids in lists.items() if rewritten.id in ids}


async def test_the_reverse_index_is_the_kept_links_inverted(
    enricher: Enricher, redis: RedisClient, corpus: list[Article]
) -> None:
    """Who links to each article is what the kept links say, after saves, refreshes, window trims
    (which drop old articles' links) and withdrawals."""
    articles = sorted(corpus[:400], key=published_at)
    batches = [[event(a) for a in articles[start : start + 50]] for start in range(0, 400, 50)]
    batches.append([event(a, 2, pubstatus="canceled") for a in articles[-30:-20]])
    for batch in batches:
        await enricher.enrich_batch(batch)
    links_prefix, linkers_prefix = links_key(""), linkers_key("")
    inverted: dict[str, set[str]] = {}
    for key in await redis.keys(links_prefix + "*"):
        owner = key.decode().removeprefix(links_prefix)
        for link in orjson.loads(await redis.get(key)):
            inverted.setdefault(link["article_id"], set()).add(owner)
    reverse = {
        key.decode().removeprefix(linkers_prefix): {m.decode() for m in await redis.smembers(key)}
        for key in await redis.keys(linkers_prefix + "*")
    }
    assert len(await redis.keys(links_prefix + "*")) < 390, "the window trimmed old links"
    assert reverse == inverted
    for withdrawn in articles[-30:-20]:
        assert withdrawn.id not in inverted


async def test_a_story_told_more_often_than_the_candidates_read_is_refreshed_beyond_them(
    enricher: Enricher, corpus: list[Article]
) -> None:
    """A story syndicated more often than the candidates read reaches (issue 20): a late
    telling refreshes the list of a member published further from it than the copies nearest
    in time, which is never among its candidates."""
    settings = EnrichSettings()
    (original,) = by_id(corpus, "sk-sport-17-20180217")
    when = original.firstcreated or original.versioncreated

    def told(article_id: str, at: datetime, **changes: object) -> Article:
        return original.model_copy(
            update={"id": article_id, "uri": article_id, "firstcreated": at, "versioncreated": at}
            | changes
        )

    # Syndicated: one text under many uris, within the hour, more than a term's postings read.
    copies = [
        told(f"syndicated-{n}", when + timedelta(minutes=n))
        for n in range(settings.candidates_per_term + 5)
    ]
    # The same text two days later: its list has none of its copies, so room for a telling.
    far = told("far", when + timedelta(days=2))
    # Told again, an hour before the first copy and arriving last: the same story (most of the
    # text), not the same text.
    paragraphs = original.body_html.split("</p>")
    late = told("late", when - timedelta(hours=1), body_html="</p>".join(paragraphs[:-3]))
    await enrich_all(enricher, [*copies, far])
    produced = await enricher.enrich(event(late))
    own = produced[0].enriched
    assert own is not None and own.story_id == copies[0].id
    refreshed = {
        e.article_id: e.enriched for e in produced if e.type == "article.related_refreshed"
    }
    assert "far" in refreshed, "the member beyond the candidates is refreshed"
    far_now = refreshed["far"]
    assert far_now is not None and far_now.related[0].article_id == "late"
    assert "same story" in far_now.related[0].reasons


async def kept_links(redis: RedisClient) -> dict[str, set[str]]:
    """Every kept list's targets, by owner."""
    prefix = links_key("")
    return {
        key.decode().removeprefix(prefix): {
            link["article_id"] for link in orjson.loads(await redis.get(key))
        }
        for key in await redis.keys(prefix + "*")
    }


async def test_a_save_adds_only_its_new_links_to_the_reverse_index_which_outlives_them(
    enricher: Enricher, redis: RedisClient, corpus: list[Article]
) -> None:
    """A saved list adds to the reverse index only the targets it did not link to yet (a refresh
    keeps most of its list), and each linkers set still lives at least as long as every kept
    list in it: a refresh keeps its links' expiry (their copy's), a new copy renews its every
    target's (here an update of a seeded article)."""
    articles = sorted(corpus[:300], key=published_at)
    await enricher.enrich_batch([event(a) for a in articles[:200]])
    lists = await kept_links(redis)
    updated = next(a for a in articles[150:200] if len(lists.get(a.id, ())) > 4)
    await redis.config_resetstat()
    produced = await enricher.enrich_batch(
        [event(a) for a in articles[200:260]] + [event(updated, 2, headline=updated.headline + ".")]
    )
    # The reverse index's additions, as the saves made them in order: an owner's targets it did
    # not link to before.
    added = 0
    for produced_event in produced:
        if produced_event.enriched is not None:
            targets = {link.article_id for link in produced_event.enriched.related}
            added += len(targets - lists.get(produced_event.article_id, set()))
            lists[produced_event.article_id] = targets
    refreshes = [e for e in produced if e.type == "article.related_refreshed"]
    assert len(refreshes) > 20
    stats = await redis.info("commandstats")
    assert stats["cmdstat_sadd"]["calls"] == added
    # Every kept list expires with its copy, and before the linkers sets of its targets.
    for owner, targets in (await kept_links(redis)).items():
        expires = await redis.pexpiretime(links_key(owner))
        assert 0 < expires <= await redis.pexpiretime(copy_key(owner))
        for target in targets:
            assert await redis.pexpiretime(linkers_key(target)) >= expires, (owner, target)


async def test_a_redelivered_batch_logs_its_skipped_events_once_each_with_its_own_ids(
    enricher: Enricher, corpus: list[Article]
) -> None:
    """Each skipped event was a line of its own carrying the whole batch's ids as lists (the
    consumer's log context): now one line for the batch, one entry per event."""
    events = [event(article) for article in corpus[:3]]
    deliveries = [Delivery(f"{n}-0", e) for n, e in enumerate(events, 1)]
    await enricher.handle(deliveries)
    with structlog.testing.capture_logs() as logs:
        async with logging_context(deliveries):
            await enricher.handle(deliveries)  # redelivered after it finished
    (line,) = [entry for entry in logs if entry["event"].startswith("stale_event")]
    assert line["event"] == "stale_events_skipped" and line["count"] == 3
    assert line["skipped"] == [
        {"event_id": e.event_id, "article_id": e.article_id, "version": 1, "known_version": 1}
        for e in events
    ]
