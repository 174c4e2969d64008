"""Related-story ranking and same-story detection: pure functions on real corpus articles."""

import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from khabar_dev.corpus import ANT, corpus_file
from khabar_enrich.fanout import enters
from khabar_enrich.scoring import IndexedDoc, Match, cosine, diversify, recency
from khabar_enrich.stories import Sketch, containment, resemblance, same_story, shingle_sketch
from khabar_enrich.tagging import tag_article
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import (
    Article,
    EnrichedArticle,
    EnrichedEvent,
    RelatedLink,
    encode_event,
    event_json,
    routing_fields,
)

PAIRS = [
    ("fr-economy-3-20180210", "al-economy-49-20180211"),
    ("al-internationalnews-40-20180216", "fr-middleeast-11-20180216"),
    ("al-sport-19-20180217", "sk-sport-19-20180217"),
    ("al-sport-25-20180217", "sk-sport-17-20180217"),
]


@pytest.fixture(scope="module")
def articles() -> dict[str, Article]:
    wanted = {i for pair in PAIRS for i in pair}
    found: dict[str, Article] = {}
    for article in iter_corpus(corpus_file(ANT), limit=1500):
        found[article.id] = article
    assert wanted <= set(found)
    return found


def sketch_of(article: Article) -> Sketch:
    return shingle_sketch(tag_article(article).terms)


def published(article: Article) -> float:
    return (article.firstcreated or article.versioncreated).timestamp()


def test_silver_pairs_are_one_story(articles: dict[str, Article]) -> None:
    for a, b in PAIRS:
        first, second = articles[a], articles[b]
        assert same_story(
            sketch_of(first), published(first), sketch_of(second), published(second)
        ), (a, b)


def test_different_stories_on_the_same_day_are_not_one_story(articles: dict[str, Article]) -> None:
    # two different sport stories from the same outlets and day
    first, second = articles["al-sport-19-20180217"], articles["sk-sport-17-20180217"]
    assert containment(sketch_of(first), sketch_of(second)) < 0.1
    assert not same_story(sketch_of(first), published(first), sketch_of(second), published(second))


def test_same_text_months_apart_is_not_one_story(articles: dict[str, Article]) -> None:
    first = articles["al-sport-19-20180217"]
    sketch = sketch_of(first)
    assert same_story(sketch, published(first), sketch, published(first) + 86_400)
    assert not same_story(
        sketch, published(first), sketch, published(first) + timedelta(days=30).total_seconds()
    )


def doc(article_id: str, story: str, published: float = 0.0) -> IndexedDoc:
    return IndexedDoc(article_id, "ar", published, {"w:x": 1.0}, Sketch((), 0), story_id=story)


def test_diversify_keeps_at_most_two_of_one_story_in_the_top_four() -> None:
    matches = [Match(doc(f"copy-{n}", "story-1"), 1.0 - n / 100, True, []) for n in range(5)]
    matches += [
        Match(doc(f"other-{n}", f"story-{n + 2}"), 0.5 - n / 100, False, []) for n in range(5)
    ]
    ranked = [m.doc.article_id for m in diversify(matches, 8)]
    assert ranked[:4] == ["copy-0", "copy-1", "other-0", "other-1"]
    assert sum(r.startswith("copy-") for r in ranked) == 3
    assert len(ranked) == 8


def test_recency_prefers_the_nearer_story_and_cosine_is_symmetric() -> None:
    assert recency(0, 86_400) > recency(0, 30 * 86_400) > recency(0, 365 * 86_400)
    a, b = {"w:حكومة": 0.6, "e:org:european-union": 0.8}, {"e:org:european-union": 1.0}
    assert cosine(a, b) == cosine(b, a) == pytest.approx(0.8)


def test_a_new_article_enters_a_full_list_only_above_its_fourth_link() -> None:
    current = [RelatedLink(article_id=f"r{n}", score=1.0 - n / 10) for n in range(8)]
    assert enters("new", 0.75, current, 8)
    assert not enters("new", 0.65, current, 8)
    assert enters("new", 0.1, current[:5], 8)


def test_an_article_already_linked_enters_again_only_when_its_score_moved() -> None:
    """A re-sent article is no news; a changed text that moves its score is (issue 20)."""
    current = [RelatedLink(article_id=f"r{n}", score=1.0 - n / 10) for n in range(8)]
    assert not enters("r0", 1.0, current, 8)
    assert not enters("r6", 0.401, current, 8)
    assert enters("r6", 0.9, current, 8)
    assert enters("r0", 0.2, current, 8)


def test_sketches_and_resemblance_are_their_plain_definitions(articles: dict[str, Article]) -> None:
    """The C-loop forms (see stories.py) give exactly what the plain definitions give."""

    def plain_sketch(terms: list[str]) -> Sketch:
        head = terms[:600]
        shingles = {
            zlib.crc32(" ".join(head[i : i + 3]).encode()) for i in range(max(len(head) - 2, 0))
        }
        return Sketch(tuple(sorted(shingles)[:96]), len(shingles))

    def plain_resemblance(a: Sketch, b: Sketch) -> float:
        union_bottom = sorted(set(a.hashes) | set(b.hashes))[:96]
        both = set(a.hashes) & set(b.hashes)
        return sum(1 for h in union_bottom if h in both) / len(union_bottom)

    sketches = []
    for article_id in [i for pair in PAIRS for i in pair]:
        terms = tag_article(articles[article_id]).terms
        sketches.append(shingle_sketch(terms))
        assert sketches[-1] == plain_sketch(terms)
    for short in ([], ["a"], ["a", "b"], ["a", "b", "c"]):
        assert shingle_sketch(short) == plain_sketch(short)
    for a in sketches:
        for b in sketches:
            assert resemblance(a, b) == plain_resemblance(a, b)


def test_a_links_fields_are_its_model_dump() -> None:
    """copies.RecentCopies.save serializes `vars(link)`: it must stay the model's dump."""
    link = RelatedLink(article_id="a", score=0.1234, reasons=["same story", "entity: X"])
    assert orjson.dumps(vars(link)) == orjson.dumps(link.model_dump())


def test_an_events_stream_entry_holds_its_json_as_the_model_dumps_it(
    articles: dict[str, Article],
) -> None:
    article = articles[PAIRS[0][0]]
    event = EnrichedEvent(
        event_id="e1",
        type="article.enriched",
        article_id=article.id,
        version=2,
        correlation_id="c1",
        source_event_id="s1",
        enriched=EnrichedArticle(
            article=article,
            version=2,
            tags=tag_article(article).tags,
            related=[RelatedLink(article_id="x", score=0.5, reasons=["words: a"])],
            enriched_at=datetime(2026, 1, 1, 12, 30, 1, 5, tzinfo=UTC),
        ),
    )
    expected = {**routing_fields(event), "data": event.model_dump_json().encode()}
    assert encode_event(event) == expected
    assert encode_event(event, event_json(event)) == expected


def test_rerank_scores_without_redis_cosine_plus_same_story_times_recency() -> None:
    from khabar_enrich.scoring import SAME_STORY_BONUS, rerank

    words = [f"w{i}" for i in range(60)]
    day = 86_400.0
    query = IndexedDoc("q", "ar", 10 * day, {"w:a": 0.8, "w:b": 0.6}, shingle_sketch(words))
    retold = IndexedDoc("retold", "ar", 10 * day, {"w:a": 0.6, "w:c": 0.8}, shingle_sketch(words))
    other_words = [f"x{i}" for i in range(60)]
    close = IndexedDoc(
        "close", "ar", 10 * day, {"w:a": 0.8, "w:b": 0.6}, shingle_sketch(other_words)
    )
    old = IndexedDoc("old", "ar", 0.0, {"w:a": 0.8, "w:b": 0.6}, shingle_sketch(other_words))
    ranked = rerank(query, [old, close, retold])
    assert [m.doc.article_id for m in ranked] == ["close", "retold", "old"]
    assert ranked[1].same_story and not ranked[0].same_story and not ranked[2].same_story
    assert ranked[0].score == pytest.approx(1.0)
    assert ranked[1].score == pytest.approx(0.48 + SAME_STORY_BONUS)
    assert ranked[2].score == pytest.approx(recency(10 * day, 0.0))


def test_copies_of_one_text_take_one_place_and_never_the_articles_own(
    articles: dict[str, Article],
) -> None:
    """Copies under other uris (issue 20): rerank marks the article's own, diversify keeps one."""
    from khabar_enrich.scoring import rerank, weigh

    terms = tag_article(articles["al-sport-19-20180217"]).terms
    other_terms = tag_article(articles["sk-sport-17-20180217"]).terms
    vector = weigh({f"w:{t}": 1.0 for t in terms}, defaultdict(lambda: 1.0))
    other_vector = weigh({f"w:{t}": 1.0 for t in other_terms}, defaultdict(lambda: 1.0))
    sketch = shingle_sketch(terms)

    def made(article_id: str, vec: dict[str, float], sk: Sketch) -> IndexedDoc:
        return IndexedDoc(article_id, "ar", 0.0, vec, sk, story_id=article_id)

    query = made("q", vector, sketch)
    own_copy = made("own-copy", vector, sketch)
    other = made("other", other_vector, shingle_sketch(other_terms))
    ranked = rerank(query, [own_copy, other])
    assert [m.copy for m in ranked] == [True, False] and ranked[0].same_story
    assert [m.doc.article_id for m in diversify(ranked, 8)] == ["other"]

    first, second = made("first", other_vector, sketch), made("second", other_vector, sketch)
    listed = diversify([Match(first, 0.9, False, []), Match(second, 0.8, False, [])], 8)
    assert [m.doc.article_id for m in listed] == ["first"]


def test_after_an_abandoned_batch_copies_are_kept_as_long_as_in_a_new_process() -> None:
    """The copies' window is the refresh window and the late-arrival allowance, before and
    after an abandoned batch (the trim queued says until when)."""
    from redis.asyncio import Redis

    from khabar_enrich.batch_view import BatchView
    from khabar_enrich.copies import TRIM_EVERY
    from khabar_enrich.handler import Enricher
    from khabar_enrich.index import RelatedIndex
    from khabar_enrich.settings import EnrichSettings
    from khabar_shared.pipeline import Writes

    settings = EnrichSettings(refresh_window_days=3, late_arrival_days=5)
    redis = Redis.from_url("redis://127.0.0.1:1/0")  # never reached: trims are only queued
    enricher = Enricher(redis, RelatedIndex(redis, settings), settings)
    newest = 2_000_000_000.0

    def trimmed_until() -> float:
        copies = enricher._copies
        copies._saves = TRIM_EVERY
        writes = Writes()
        copies.trim(writes, BatchView(reader=None), newest)  # type: ignore[arg-type]
        (command,) = writes.take()
        return float(command[4])  # EVAL, source, 1 key, the key, then the time

    assert trimmed_until() == newest - 8 * 86_400
    enricher._abandon_batch()
    assert trimmed_until() == newest - 8 * 86_400
