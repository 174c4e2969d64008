"""The store's pure parts: stream entries, content hashes, embargo rules, import sources."""

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from khabar_ingest.body import first_too_deep
from khabar_ingest.formats.ninjs import parse_ninjs
from khabar_ingest.formats.sources import read_file, read_source
from khabar_ingest.formats.writer import article_to_ninjs
from khabar_ingest.store import content_hash, is_embargoed
from khabar_shared.events import Article
from tests.support import corpus_lines, real_articles, to_ninjs

FEEDS = Path(__file__).resolve().parents[1] / "data/feeds"
DOCUMENT = to_ninjs(real_articles(1)[0])


def reversed_keys(value: Any) -> Any:
    """The same JSON value, every object's keys in the opposite order."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


def test_content_hash_depends_on_content_not_on_the_order_of_keys() -> None:
    """A newsroom sending its fields in another order, or a newcomer reordering `Article`'s
    fields, changes no hash (a re-sent article would otherwise become a new version)."""
    from pydantic import create_model

    desk = {"x-desk": {"shift": "night", "editors": [{"name": "ع", "role": "copy"}], "n": 2}}
    first = parse_ninjs({**DOCUMENT, **desk})
    again = parse_ninjs(reversed_keys({**DOCUMENT, **desk}))
    assert first.extra["x-desk"] == again.extra["x-desk"]
    assert content_hash(first) == content_hash(again)

    fields = {name: (f.annotation, f) for name, f in reversed(Article.model_fields.items())}
    reordered_model = create_model("ReorderedArticle", **fields)  # type: ignore[call-overload]
    reordered = reordered_model.model_validate(first.model_dump())
    assert reordered.model_dump_json() != first.model_dump_json()  # the same article, reordered
    assert content_hash(reordered) == content_hash(first)


def test_content_hash_takes_integers_beyond_64_bits() -> None:
    """orjson writes no such integer; the hash then writes the article with the json module."""
    big = parse_ninjs({**DOCUMENT, "x-count": 2**70})
    bigger = parse_ninjs({**DOCUMENT, "x-count": 2**70 + 1})
    assert content_hash(big) != content_hash(bigger)
    assert content_hash(big) == content_hash(
        parse_ninjs(reversed_keys({**DOCUMENT, "x-count": 2**70}))
    )


def test_content_hash_ignores_versioncreated_only() -> None:
    first = parse_ninjs(DOCUMENT)
    resent = parse_ninjs({**DOCUMENT, "versioncreated": "2030-01-01T00:00:00+00:00"})
    edited = parse_ninjs({**DOCUMENT, "headline": DOCUMENT["headline"] + "!"})
    nested = parse_ninjs({**DOCUMENT, "associations": {"x": {"versioncreated": "2030"}}})
    nested_later = parse_ninjs({**DOCUMENT, "associations": {"x": {"versioncreated": "2031"}}})
    assert content_hash(first) == content_hash(resent)
    assert content_hash(first) != content_hash(edited)
    assert content_hash(nested) != content_hash(nested_later)


def test_embargo_holds_only_future_non_withdrawals() -> None:
    now = datetime.now(UTC)
    future = (now + timedelta(hours=1)).isoformat()
    assert is_embargoed(parse_ninjs({**DOCUMENT, "embargoed": future}), now)
    assert not is_embargoed(parse_ninjs({**DOCUMENT, "embargoed": "2018-01-01T00:00:00Z"}), now)
    assert not is_embargoed(
        parse_ninjs({**DOCUMENT, "embargoed": future, "pubstatus": "canceled"}), now
    )


def test_depth_check_names_the_first_pointer_too_deep() -> None:
    assert first_too_deep({"a": [[["x"]]]}, 4) is None
    assert first_too_deep({"a": [[["x"]]]}, 3) == "/a/0/0/0"


def test_sources_read_corpus_lines_ninjs_and_feeds() -> None:
    records = [next(corpus_lines())]
    # A line separator inside the text must not split a JSON line.
    records[0] = {**records[0], "text": records[0]["text"] + "\u2028" + "سطر"}
    lines = gzip.compress("\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode())
    corpus_items = list(read_source("corpus.jsonl.gz", lines))
    assert [i.problem for i in corpus_items] == [None]
    assert corpus_items[0].document["uri"] == records[0]["docno"]

    ninjs_items = list(read_source("items.json", json.dumps({"items": [DOCUMENT, 3]}).encode()))
    assert ninjs_items[0].document == DOCUMENT and ninjs_items[1].problem == "not a JSON object"

    feed_items = list(
        read_source(
            str(FEEDS / "skynews-arabic.rss.xml"), (FEEDS / "skynews-arabic.rss.xml").read_bytes()
        )
    )
    documents = [item.document for item in feed_items if item.document]
    assert documents and all(parse_ninjs(d).language.startswith("ar") for d in documents)
    assert any(item.problem == "has no title" for item in feed_items)


def test_written_ninjs_reads_back_as_the_same_article() -> None:
    article = parse_ninjs(DOCUMENT)
    assert parse_ninjs(article_to_ninjs(article)) == article


def test_event_ids_are_version_4_uuids() -> None:
    import uuid

    from khabar_ingest.store import new_event_ids

    ids = {event_id for _ in range(40) for event_id in new_event_ids(25)}
    assert len(ids) == 1000
    for event_id in ids:
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_batch_is_cut_into_calls_the_first_one_smaller() -> None:
    from khabar_ingest.store import chunks

    sizes = [len(chunk) for chunk in chunks(iter(range(60)), 25, first=5)]
    assert sizes == [5, 25, 25, 5]
    assert [len(chunk) for chunk in chunks(range(3), 25, first=5)] == [3]
    assert [len(chunk) for chunk in chunks(range(50), 25)] == [25, 25]
    taken = [item for chunk in chunks(iter(range(60)), 25, first=5) for item in chunk]
    assert taken == list(range(60))


def test_text_controls_are_found_as_the_pattern_finds_them() -> None:
    import random
    import re

    from khabar_ingest.formats.checks import has_text_controls

    pattern = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    alphabet = "abc سطر\t\n\r\u00a0\u200f" + "".join(chr(code) for code in range(0x20)) + "\x7f\x85"
    chooser = random.Random(3)
    for _ in range(3000):
        text = "".join(chooser.choices(alphabet, k=chooser.randint(0, 12)))
        assert has_text_controls(text) == (pattern.search(text) is not None), repr(text)


TRICKY = 'desk "quoted" \\ back/slash سطر\u2028 </script>' + "".join(map(chr, range(32)))


@pytest.mark.parametrize("pubstatus", ["usable", "canceled"])
def test_a_draft_event_is_the_codecs_event_and_marks_what_redis_decides(pubstatus: str) -> None:
    """The fast path beside `event_json`: equal bytes, and the marked places hold exactly the
    type, the version and the corrections (where ACCEPT writes a later version's)."""
    from khabar_shared.events import (
        ArticleEvent,
        Correction,
        correction_json,
        draft_article_event,
        encode_event,
        event_json,
    )

    kind = "article.withdrawn" if pubstatus == "canceled" else "article.published"
    now = datetime.now(UTC)
    for document in [DOCUMENT, *(to_ninjs(record) for record in real_articles(5))]:
        article = parse_ninjs({**document, "pubstatus": pubstatus, "byline": TRICKY})
        article.extra = {"extra": {"corrections": [], "extra": TRICKY}, **article.extra}
        # Ids may spell the entry's field names (see test_a_waiting_change_reads_back_...).
        fields = dict(event_id="type", correlation_id="data", accepted_at=now, submitted_by=TRICKY)
        draft = draft_article_event(kind=kind, article=article, **fields)
        event = ArticleEvent(type=kind, article_id=article.id, version=1, article=article, **fields)
        assert draft.data == event_json(event)

        # What ACCEPT does for a later version, in Python: the same bytes as the codec's.
        notes = [Correction(version=2, accepted_at=now, note=TRICKY)]
        before, after = correction_json(now, "ثانية")
        corrections = event_json_list(notes)[:-1] + b"," + before + b"3" + after + b"]"
        m = draft.marks
        later = b"".join((
            draft.data[: m[0] - 1], b'"article.updated"', draft.data[m[1] : m[2] - 1], b"3",
            draft.data[m[3] : m[4] - 1], corrections, draft.data[m[5] :],
        ))  # fmt: skip
        notes.append(Correction(version=3, accepted_at=now, note="ثانية"))
        updated = event.model_copy(
            update={
                "type": "article.updated",
                "version": 3,
                "article": article.model_copy(update={"corrections": notes}),
            }
        )
        assert later == event_json(updated)

        # And its stream entry: the codec's fields, in its order, with ACCEPT's values.
        entry = list(draft.entry)
        for at, value in zip(draft.entry_marks, ("article.updated", "3", "<data>"), strict=True):
            entry[at - 1] = value
        assert list(zip(entry[::2], entry[1::2])) == list(encode_event(updated, b"").items())[
            :-1
        ] + [("data", "<data>")]


@pytest.mark.parametrize("held", [False, True])
def test_the_drafted_records_are_their_models_json_with_redis_values_written_in(
    held: bool,
) -> None:
    """What ACCEPT stores, filled in as it fills them (in Python): each record is its model's
    JSON, keys in the model's order, times as the text ingest decided."""
    from khabar_ingest.store import (
        Acceptance,
        Change,
        EmbargoedChange,
        HistoryEntry,
        record_drafts,
    )
    from khabar_shared.events import draft_article_event

    now = datetime.now(UTC)
    until = now + timedelta(days=1)
    article = parse_ninjs({**DOCUMENT, "byline": TRICKY, "editor_note": TRICKY})
    change = Change(article, submitted_by=TRICKY, correlation_id="data/" + TRICKY)
    draft = draft_article_event(
        event_id="type", kind="article.published", correlation_id=change.correlation_id,
        accepted_at=now, submitted_by=TRICKY, article=article,
    )  # fmt: skip
    until_text = until.isoformat() if held else ""
    drafts = [
        piece.decode()
        for piece in record_drafts(
            change, "e-1", now.isoformat(), until_text, draft if held else None
        )
    ]
    assert len(drafts) == (11 if held else 5)
    status = "embargoed" if held else "usable"
    common = dict(event_id="e-1", status=status, correlation_id=change.correlation_id)
    common["embargoed_until"] = until if held else None
    a = drafts[0:2]
    assert a[0] + "7" + a[1] == written(
        Acceptance(article_id=article.id, version=7, accepted_at=now, **common)
    )
    h = drafts[2:5]
    assert h[0] + "7" + h[1] + '"article.updated"' + h[2] == written(
        HistoryEntry(
            version=7, type="article.updated", accepted_at=now, submitted_by=TRICKY,
            editor_note=article.editor_note, **common,
        )
    )  # fmt: skip
    if not held:
        return
    p = drafts[5:]
    data = draft.data.decode()
    event = orjson.dumps(data).decode()  # (Redis's cjson also escapes "/": equal JSON)
    filled = "".join((
        p[0], '"article.updated"', p[1], '"7"', p[2], event, p[3], "7", p[4], "7", p[5],
    ))  # fmt: skip
    fields = list(draft.entry)
    for at, value in zip(draft.entry_marks, ("article.updated", "7", data), strict=True):
        fields[at - 1] = value
    released = HistoryEntry(
        version=7, event_id="e-1", type="article.released", status="usable", accepted_at=now,
        submitted_by=TRICKY, editor_note=article.editor_note, correlation_id=change.correlation_id,
    )  # fmt: skip
    expected = EmbargoedChange(status="usable", fields=fields, version=7, history=released)
    assert filled == written(expected, omit={"accepted_at"})


def written(model: Any, omit: frozenset[str] | set[str] = frozenset()) -> str:
    """A model's JSON in its fields' order, as ingest writes its records: times as
    `isoformat` text, the release's history without its `accepted_at` (RELEASE's)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k not in omit}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return orjson.dumps(plain(model.model_dump())).decode()


def event_json_list(notes: list[Any]) -> bytes:
    from pydantic import TypeAdapter

    from khabar_shared.events import Correction

    return TypeAdapter(list[Correction]).dump_json(notes)


def test_a_file_of_json_lines_reads_as_its_bytes_do(tmp_path: Path) -> None:
    lines = [json.dumps(to_ninjs(record), ensure_ascii=False) for record in real_articles(5)]
    data = ("\n".join(lines[:2]) + "\n{broken\n\n" + "\n".join(lines[2:])).encode()
    for name, content in (("desk.jsonl", data), ("desk.jsonl.gz", gzip.compress(data))):
        path = tmp_path / name
        path.write_bytes(content)
        from_file = [(i.where, i.document, i.problem) for i in read_file(path)]
        from_bytes = [(i.where, i.document, i.problem) for i in read_source(str(path), content)]
        assert from_file == from_bytes
        assert [where.rsplit(":", 1)[1] for where, _, _ in from_file] == [
            "1",
            "2",
            "3",
            "5",
            "6",
            "7",
        ]


def test_a_cut_off_gzip_file_gives_its_whole_lines_then_fails(tmp_path: Path) -> None:
    lines = [json.dumps(to_ninjs(record), ensure_ascii=False) for record in real_articles(40)]
    whole = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "archive.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    read: list[str] = []
    with pytest.raises(EOFError):
        for item in read_file(path):
            assert item.document is not None, item.problem
            read.append(item.document["uri"])
    assert read and read == [json.loads(line)["uri"] for line in lines[: len(read)]]
