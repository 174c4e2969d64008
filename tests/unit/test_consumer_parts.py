"""The pure parts of the consumer plumbing: dead-letter entries and the logging context."""

from datetime import UTC, datetime

from khabar_shared.consumer import Delivery, event_context
from khabar_shared.dead_letters import MAX_ERROR_CHARS, dead_letter_entry, parse_dead_letter
from khabar_shared.events import EnrichedEvent
from tests.support import real_articles

RECORD = real_articles(1)[0]


def withdrawal(article_id: str, version: int) -> EnrichedEvent:
    return EnrichedEvent(
        event_id=f"e-{article_id}-{version}",
        type="article.withdrawn",
        article_id=article_id,
        version=version,
        correlation_id=f"c-{article_id}",
        source_event_id="s",
    )


def test_dead_letter_entry_round_trips_with_the_original_fields_byte_for_byte() -> None:
    original = {b"type": b"article.published", b"data": RECORD["title"].encode() + b"\xff"}
    entry = dead_letter_entry(
        "khabar:{articles}:events",
        "1-2",
        "enrich",
        "max_deliveries",
        "x" * (MAX_ERROR_CHARS + 50) + "Boom",
        6,
        original,
    )
    assert {k: v for k, v in entry.items() if k.startswith(b"original.")} == {
        b"original.type": b"article.published",
        b"original.data": original[b"data"],
    }
    letter = parse_dead_letter("9-0", entry)
    assert (letter.source_stream, letter.source_id, letter.group) == (
        "khabar:{articles}:events",
        "1-2",
        "enrich",
    )
    assert letter.deliveries == 6 and letter.reason == "max_deliveries"
    assert len(letter.error) == MAX_ERROR_CHARS and letter.error.endswith("Boom")
    assert letter.original["data"].startswith(RECORD["title"])
    assert datetime.fromisoformat(letter.dead_at).tzinfo == UTC


def test_event_context_names_one_event_or_lists_a_batch() -> None:
    one = [Delivery("1-0", withdrawal("a1", 2))]
    assert event_context(one) == {
        "event_id": "e-a1-2",
        "article_id": "a1",
        "correlation_id": "c-a1",
    }
    batch = [Delivery("1-0", withdrawal("a1", 2)), Delivery("2-0", withdrawal("b7", 1))]
    assert event_context(batch)["article_id"] == ["a1", "b7"]
    assert event_context(batch)["event_id"] == ["e-a1-2", "e-b7-1"]
