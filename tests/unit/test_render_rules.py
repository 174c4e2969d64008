"""Render's small rules: validators, version order, purge keys, batching, category choice."""

from datetime import UTC, datetime

import pytest

from khabar_render.fast_path import etag_matches
from khabar_render.fragments import category_of
from khabar_render.handler import is_links_only, keeps_its_place
from khabar_render.purge import purge_keys
from khabar_render.store import Applied, StoredArticle, supersedes
from khabar_shared.consumer import Delivery
from khabar_shared.events import Article, EnrichedArticle, EnrichedEvent, newest_per_article

ETAG = '"0123456789abcdef0123"'
NOW = datetime(2018, 2, 26, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (ETAG, True),
        (f"W/{ETAG}", True),
        (f'"aaaa", {ETAG}', True),
        (f'"aaaa",W/{ETAG}', True),
        ("*", True),
        ('"aaaa"', False),
        ("", False),
        (ETAG[:-2] + '"', False),  # a prefix of our tag is another tag
    ],
)
def test_if_none_match(header: str, matches: bool) -> None:
    assert etag_matches(header, ETAG) is matches


def stored(version: int, status: str) -> StoredArticle:
    return StoredArticle(article_id="a", version=version, status=status)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("previous", "version", "moves"),
    [
        (None, 1, True),
        (stored(2, "live"), 3, True),
        (stored(2, "live"), 2, True),  # a related-links refresh of the same version
        (stored(2, "live"), 1, False),
        (stored(2, "withdrawn"), 2, False),  # a withdrawal is final for its version
        (stored(2, "withdrawn"), 3, True),  # a newer version may bring it back
    ],
)
def test_version_order(previous: StoredArticle | None, version: int, moves: bool) -> None:
    assert supersedes(previous, version) is moves


def test_purge_keys_name_articles_sections_and_home() -> None:
    assert purge_keys(["b", "a"], {"world", "sport"}, {"sport"}) == [
        "article:b",
        "article:a",
        "section:sport",
        "section:world",
        "listing:sport",
        "home",
        "home-listing",
    ]
    # Stories that kept their places: the edge's listings of cards stay.
    assert purge_keys(["a"], {"world"}, set()) == ["article:a", "section:world", "home"]


def enriched(category: str, topic: str) -> EnrichedArticle:
    article = Article(
        id="a", uri="urn:a", language="ar", headline="خبر", category=category, versioncreated=NOW
    )
    return EnrichedArticle(article=article, version=1, topic=topic, enriched_at=NOW)


def test_category_is_the_newsrooms_then_enrichs_topic() -> None:
    assert category_of(enriched("sport", "technology")) == "sport"
    assert category_of(enriched("", "technology")) == "technology"
    assert category_of(enriched("", "")) == "news"


def event(article_id: str, version: int, kind: str = "article.enriched") -> Delivery[EnrichedEvent]:
    return Delivery(
        f"{version}-0",
        EnrichedEvent(
            event_id=f"{article_id}{version}{kind}",
            type=kind,
            article_id=article_id,  # type: ignore[arg-type]
            version=version,
            correlation_id="c",
            source_event_id="s",
        ),
    )


def newest(*deliveries: Delivery[EnrichedEvent]) -> list[tuple[str, int, str]]:
    kept = newest_per_article(d.event for d in deliveries).values()
    return [(e.article_id, e.version, e.type) for e in kept]


def test_a_batch_keeps_each_articles_newest_event() -> None:
    assert newest(
        event("a", 2), event("b", 1), event("a", 1), event("a", 2, "article.withdrawn")
    ) == [("a", 2, "article.withdrawn"), ("b", 1, "article.enriched")]


def test_a_withdrawal_is_final_for_its_version() -> None:
    assert newest(event("a", 4, "article.withdrawn"), event("a", 4)) == [
        ("a", 4, "article.withdrawn")
    ]
    assert newest(event("a", 4, "article.withdrawn"), event("a", 5)) == [
        ("a", 5, "article.enriched")
    ]


def test_a_same_version_refresh_replaces_the_enriched_event() -> None:
    assert newest(event("a", 3), event("a", 3, "article.related_refreshed")) == [
        ("a", 3, "article.related_refreshed")
    ]


def applied(version: int | None, status: str = "live") -> Applied:
    previous = (
        None if version is None else StoredArticle(article_id="a", version=version, status=status)
    )  # type: ignore[arg-type]
    return Applied(applied=True, previous=previous)


def test_only_a_same_version_refresh_is_links_only() -> None:
    refresh = event("a", 3, "article.related_refreshed").event
    assert is_links_only(refresh, applied(3))
    # A refresh that also carries a newer version than render shows changes content.
    assert not is_links_only(refresh, applied(2))
    assert not is_links_only(refresh, applied(None))
    assert not is_links_only(refresh, applied(3, "withdrawn"))
    assert not is_links_only(event("a", 3).event, applied(3))


def change(version: int, category: str = "sport", **fields: object) -> EnrichedEvent:
    article = enriched(category, "").article.model_copy(update=fields)
    body = EnrichedArticle(article=article, version=version, enriched_at=NOW)
    return EnrichedEvent(
        event_id=f"e{version}",
        type="article.enriched",
        article_id="a",
        version=version,
        correlation_id="c",
        source_event_id="s",
        enriched=body,
    )


def shown(version: int, category: str = "sport") -> Applied:
    previous = change(version, category).enriched
    stored_before = StoredArticle(
        article_id="a", version=version, status="live", section=category, enriched=previous
    )
    return Applied(applied=True, previous=stored_before)


def test_only_a_newer_version_in_the_same_place_leaves_the_edges_listings_be() -> None:
    assert keeps_its_place(change(2, headline="مصحح"), shown(1), ["sport"])
    # Moved to another section, or published at another time: listings change.
    assert not keeps_its_place(change(2, "world"), shown(1), ["world"])
    assert not keeps_its_place(
        change(2, firstcreated=datetime(2019, 1, 1, tzinfo=UTC)), shown(1), ["sport"]
    )
    # New, or back from a withdrawal: listings gain it.
    assert not keeps_its_place(change(1), Applied(applied=True, previous=None), ["sport"])
    assert not keeps_its_place(change(3), Applied(True, stored(2, "withdrawn")), ["sport"])
    # A redelivery: its first handling may have stopped before telling the edge of a move.
    assert not keeps_its_place(change(2), shown(2), ["sport"])
    withdrawal = change(3).model_copy(update={"type": "article.withdrawn", "enriched": None})
    assert not keeps_its_place(withdrawal, shown(2), [])
