"""A NewsML-G2 `newsMessage` holding several text items: each item an article, answered per item.

Agencies bundle a wire's items in one message. Each text `newsItem` is read on its own
(`item_to_ninjs`, then the ninjs reader) and accepted like a batch's item: a bad item is
refused with its own problem, at its XML path (`/newsMessage/itemSet/newsItem[2]/…`),
and the others go on. The answer is the batch's (`batch.py`), with per item the time
zone its times without an offset were read in.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from khabar_ingest.batch import BatchReply, add_notes, item_answer, rejected, reply_of
from khabar_ingest.formats.errors import FieldError, InvalidArticle
from khabar_ingest.formats.newsml import item_to_ninjs, xml_pointer
from khabar_ingest.formats.ninjs import FieldCleaned, Limits, read_ninjs
from khabar_ingest.problems import invalid_article
from khabar_ingest.store import ArticleStore, Change


@dataclass(frozen=True)
class NewsMessage:
    """The text items of a message that holds more than one, in the message's order."""

    items: list[ET.Element]


def item_path(index: int) -> str:
    return f"/newsMessage/itemSet/newsItem[{index + 1}]"


def in_message(index: int, invalid: InvalidArticle) -> InvalidArticle:
    """The item's problems at their place in the message, not in a lone newsItem."""
    errors = []
    for error in invalid.errors:
        where = error.pointer if error.pointer.startswith("/news") else xml_pointer(error.pointer)
        errors.append(
            FieldError(
                pointer=item_path(index) + where.removeprefix("/newsItem"), message=error.message
            )
        )
    return InvalidArticle(errors)


async def accept_message(
    store: ArticleStore,
    message: NewsMessage,
    key_name: str,
    correlation_id: str,
    limits: Limits,
    zone: str,
) -> BatchReply:
    answers = []
    read: list[tuple[int, Change, list[FieldCleaned], list[str]]] = []
    for index, item in enumerate(message.items):
        try:
            reading = read_ninjs(item_to_ninjs(item), limits=limits, naive_zone=ZoneInfo(zone))
        except InvalidArticle as invalid:
            problem = invalid_article(in_message(index, invalid), f"#{item_path(index)}")
            answers.append(rejected(index, problem))
            continue
        change = Change(
            article=reading.article, submitted_by=key_name, correlation_id=correlation_id
        )
        read.append((index, change, reading.cleaned, reading.zoned_fields))
    outcomes = await store.accept_many(change for _, change, _, _ in read)
    for (index, change, cleaned, zoned), outcome in zip(read, outcomes, strict=True):
        answer = item_answer(index, change, outcome)
        if answer["outcome"] != "rejected":
            add_notes(answer, cleaned, zoned, ZoneInfo(zone))
        answers.append(answer)
    return reply_of(answers)
