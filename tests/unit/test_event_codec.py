"""The event codec's fast path for refreshes, beside the plain serialization it stands for."""

from datetime import UTC, datetime

import pytest

from khabar_shared import events
from khabar_shared.events import (
    Article,
    EnrichedArticle,
    EnrichedEvent,
    RelatedLink,
    Tag,
    encode_event,
    event_json,
)

# The keys the splice looks for, inside the article's own text (escaped there, as JSON must).
TRICKY = ',"enriched":{"related":[ \\",\\"related\\":[ \u0623'


def copied_event(headline: str) -> EnrichedEvent:
    """An `article.enriched` event whose article's own fields hold the keys the splice seeks."""
    article = Article(
        id="a-1",
        uri="urn:test:a-1",
        language="ar",
        headline=headline + TRICKY,
        body_html="<p>" + TRICKY + "</p>",
        versioncreated=datetime(2026, 1, 1, tzinfo=UTC),
        extra={"related": [{"enriched": {"x": 1.5}}], "enriched": TRICKY, "n": 10**20},
    )
    return EnrichedEvent(
        event_id="e1",
        type="article.enriched",
        article_id=article.id,
        version=3,
        correlation_id="c1",
        source_event_id="s1",
        enriched=EnrichedArticle(
            article=article,
            version=3,
            tags=[Tag(id="topic:x", type="topic", name=TRICKY, score=0.5)],
            story_id="st",
            related=[RelatedLink(article_id="x", score=0.5, reasons=[TRICKY])],
            search_text="a b" + TRICKY,
            enriched_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
    )


def refresh_of(copy: EnrichedEvent, links: list[RelatedLink]) -> EnrichedEvent:
    assert copy.enriched is not None
    refreshed = copy.enriched.model_copy(
        update={"related": links, "enriched_at": datetime(2026, 2, 3, 4, 5, 6, 7, tzinfo=UTC)}
    )
    return EnrichedEvent(
        event_id="e2",
        type="article.related_refreshed",
        article_id=copy.article_id,
        version=3,
        correlation_id="c2",
        source_event_id="s2",
        enriched=refreshed,
    )


LINKS = [[], [RelatedLink(article_id="y", score=0.25, reasons=["same story", TRICKY])]]


@pytest.mark.parametrize("links", LINKS)
def test_a_refresh_written_from_its_copy_is_the_codecs_own_entry(
    links: list[RelatedLink],
) -> None:
    copy = copied_event("headline")
    copy_json = event_json(copy)
    parsed = EnrichedEvent.model_validate_json(copy_json)  # as a copy comes back from Redis
    event = refresh_of(parsed, links)
    assert encode_event(event, copied_from=copy_json) == encode_event(event)


def test_todays_models_take_the_short_way() -> None:
    """The copy's article bytes are used as they are: a copy that (wrongly) differs shows it."""
    assert events.SPLICES_REFRESHES
    event = refresh_of(copied_event("new"), LINKS[1])
    data = encode_event(event, copied_from=event_json(copied_event("old")))["data"]
    assert isinstance(data, bytes) and b'"headline":"old' in data


def test_were_the_fields_moved_a_refresh_is_serialized_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "SPLICES_REFRESHES", False)
    event = refresh_of(copied_event("new"), LINKS[1])
    entry = encode_event(event, copied_from=event_json(copied_event("old")))
    assert entry == encode_event(event)
