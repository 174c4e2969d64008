"""A batch's answer, written from plain values, is exactly what its published schema says."""

import orjson

from khabar_ingest.batch import BatchAnswer, BatchReply, item_answer, read_item, rejected
from khabar_ingest.formats.ninjs import InvalidArticle, Limits
from khabar_ingest.problems import invalid_article
from khabar_ingest.store import IdempotencyMismatch, StoreResult, VersionConflict
from tests.support import real_articles, to_ninjs

DOCUMENT = to_ninjs(real_articles(1)[0])


def change(**envelope: object):
    return read_item({"article": DOCUMENT, **envelope}, "desk", "corr-1", Limits(), False)[0]


def answers() -> list[dict[str, object]]:
    accepted = StoreResult("a-1", 3, "e-1", "usable", replayed=False, answer=lambda: None)
    held = StoreResult("a-1", 4, "e-2", "embargoed", replayed=False, answer=lambda: None)
    repeat = StoreResult("a-1", 2, "e-0", "usable", replayed=True, answer=lambda: None)
    try:
        read_item({"uri": "x"}, "desk", "corr-1", Limits(), False)
    except InvalidArticle as invalid:
        bad = rejected(4, invalid_article(invalid, "#/4"))
    return [
        item_answer(0, change(), accepted), item_answer(1, change(), held),
        item_answer(2, change(), repeat),
        item_answer(3, change(base_version=1), VersionConflict(5)),
        bad,
        item_answer(5, change(idempotency_key="k"), IdempotencyMismatch("k")),
    ]  # fmt: skip


def test_batch_reply_is_the_schema_s_answer_field_for_field() -> None:
    items = answers()
    counts = {"accepted": 1, "embargoed": 1, "unchanged": 1, "rejected": 3}
    written = orjson.loads(BatchReply(counts, items).json())
    # Every field present, in the model's types: validating and dumping changes nothing.
    assert BatchAnswer.model_validate(written).model_dump(mode="json") == written
    assert [item["outcome"] for item in written["items"]] == [
        "accepted",
        "embargoed",
        "unchanged",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert written["items"][3]["problem"]["current_version"] == 5
    assert written["items"][0]["article_id"] == "a-1"
    assert written["items"][3]["article_id"] == change().article.id  # a refused change names it
    assert written["items"][4]["problem"]["errors"]
