"""Every editorial operation through a real ingest process, checked on the stream itself.

Publish, update, correct, withdraw (two ways), embargo (held, replaced,
withdrawn, released after a restart of ingest), versions (stale If-Match,
repeats, Idempotency-Key), batches, `khabar import`, API keys made with the
CLI, and no key in any log line.
"""

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from khabar_cli.failures import EXIT_PROBLEMS, EXIT_REFUSED, EXIT_UNAVAILABLE
from khabar_cli.main import app as cli
from khabar_dev.processes import free_port
from khabar_ingest.embargo import release_due
from khabar_ingest.formats.ninjs import parse_ninjs
from khabar_ingest.scripts import RELEASE
from khabar_ingest.store import (
    EMBARGO_PENDING,
    EMBARGO_SCHEDULE,
    ArticleStore,
    Change,
    HistoryEntry,
)
from khabar_shared.events import ArticleEvent, decode_event, encode_event
from khabar_shared.names import ARTICLE_EVENTS_STREAM, article_history_key, article_state_key
from khabar_shared.redis_helpers import connect
from tests.conftest import Servers
from tests.integration.ingest_fixtures import IngestProcess, ingest_process
from tests.support import eventually, real_articles, to_ninjs

ARTICLES = [to_ninjs(record) for record in real_articles(14)]
FEEDS = Path(__file__).resolve().parents[1] / "data/feeds"
CREATED_KEYS: list[str] = []


@pytest.fixture(scope="module")
def ingest(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    process = ingest_process(servers, tmp_path_factory.mktemp("ingest-editorial"), key_cache_s=1)
    try:
        yield process
    finally:
        process.group.stop_all()


def article(index: int, **changes: Any) -> dict[str, Any]:
    return {**ARTICLES[index], **changes}


def post(ingest: IngestProcess, document: dict[str, Any], **headers: str) -> Any:
    with ingest.client() as client:
        return client.post("/v1/articles", json=document, headers=headers)


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def test_publish_update_correct_keep_versions_and_history(ingest: IngestProcess) -> None:
    before = ingest.stream_length()
    first = post(ingest, article(0))
    assert first.status_code == 202 and first.json()["version"] == 1
    article_id = first.json()["article_id"]
    update = post(ingest, article(0, headline=ARTICLES[0]["headline"] + " (محدث)"))
    assert update.json()["version"] == 2
    note = "صُحّح اسم المسؤول في الفقرة الثانية"
    correction = post(
        ingest, article(0, headline=ARTICLES[0]["headline"] + " (محدث)", editor_note=note)
    )
    assert correction.json()["version"] == 3

    events = ingest.events()[before:]
    assert [(e.type, e.version) for e in events] == [
        ("article.published", 1),
        ("article.updated", 2),
        ("article.updated", 3),
    ]
    assert {e.submitted_by for e in events} == {"bootstrap"}
    assert events[2].article.editor_note == note
    with ingest.client() as client:
        history = client.get(f"/v1/articles/{article_id}/history").json()
        current = client.get(f"/v1/articles/{article_id}").json()
    assert [entry["version"] for entry in history] == [1, 2, 3]
    assert history[2]["editor_note"] == note and history[0]["editor_note"] == ""
    assert current["version"] == 3 and current["status"] == "usable"
    assert current["headline"].endswith("(محدث)")


def test_every_event_ingest_writes_is_the_codecs_bytes(ingest: IngestProcess) -> None:
    """One writer of the wire format: each entry's `data`, first versions and later ones, with
    notes and withdrawals, is what `khabar_shared.events.encode_event` makes of that event."""
    before = ingest.stream_length()
    tricky = 'a "quoted" \\ back/slash note سطر\u2028 </script>'
    post(ingest, article(12))
    post(ingest, article(12, headline=ARTICLES[12]["headline"] + " (1)", editor_note=tricky))
    post(ingest, article(12, headline=ARTICLES[12]["headline"] + " (2)"))
    post(ingest, article(12, headline=ARTICLES[12]["headline"] + " (3)", editor_note="ثانية"))
    post(ingest, article(12, pubstatus="canceled"))
    post(ingest, article(13, editor_note="first version, with a note"))
    with ingest.redis() as client:
        entries = client.xrange(ARTICLE_EVENTS_STREAM)[before:]
    assert len(entries) == 6
    for _, fields in entries:
        event = decode_event(ArticleEvent, fields)
        expected = encode_event(event)
        assert {key.decode(): value for key, value in fields.items()} == {
            key: value.encode() if isinstance(value, str) else value
            for key, value in expected.items()
        }
    notes = [n.note for n in decode_event(ArticleEvent, entries[4][1]).article.corrections]
    assert notes == [tricky, "ثانية"]


def test_a_repeat_appends_nothing_and_gets_the_first_answer(ingest: IngestProcess) -> None:
    first = post(ingest, article(1))
    length = ingest.stream_length()
    # A CMS re-sending the same content with a fresh versioncreated is not a change.
    again = post(ingest, article(1, versioncreated=datetime.now(UTC).isoformat()))
    assert again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ingest.stream_length() == length


def test_idempotency_key_replays_and_refuses_other_content(ingest: IngestProcess) -> None:
    first = post(ingest, article(2), **{"Idempotency-Key": "cms-42"})
    length = ingest.stream_length()
    replay = post(ingest, article(2), **{"Idempotency-Key": "cms-42"})
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    other = post(ingest, article(2, headline="عنوان آخر"), **{"Idempotency-Key": "cms-42"})
    assert other.status_code == 422
    assert other.json()["errors"][0]["pointer"] == "header:Idempotency-Key"
    assert ingest.stream_length() == length
    fresh = post(ingest, article(2, headline="عنوان آخر"), **{"Idempotency-Key": "cms-43"})
    assert fresh.status_code == 202 and fresh.json()["version"] == 2
    assert ingest.stream_length() == length + 1


def test_stale_if_match_gets_409_with_the_current_version(ingest: IngestProcess) -> None:
    post(ingest, article(3))
    post(ingest, article(3, headline="تحديث أول"))
    length = ingest.stream_length()
    stale = post(ingest, article(3, headline="تحديث على نسخة قديمة"), **{"If-Match": '"1"'})
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert ingest.stream_length() == length
    fresh = post(ingest, article(3, headline="تحديث على النسخة الأخيرة"), **{"If-Match": '"2"'})
    assert fresh.status_code == 202 and fresh.json()["version"] == 3
    assert fresh.headers["ETag"] == '"3"'


def test_withdraw_by_pubstatus_and_by_delete(ingest: IngestProcess) -> None:
    kept_id = post(ingest, article(4)).json()["article_id"]
    killed = post(ingest, article(4, pubstatus="canceled"))
    assert killed.json()["status"] == "canceled" and killed.json()["version"] == 2
    assert ingest.events()[-1].type == "article.withdrawn"

    deleted_id = post(ingest, article(5)).json()["article_id"]
    with ingest.client() as client:
        gone = client.delete(f"/v1/articles/{deleted_id}")
        length = ingest.stream_length()
        again = client.delete(f"/v1/articles/{deleted_id}")
        state = client.get(f"/v1/articles/{deleted_id}").json()
    assert gone.status_code == 202 and gone.json()["version"] == 2
    last = ingest.events()[-1]
    assert (last.type, last.article_id, last.article.pubstatus) == (
        "article.withdrawn",
        deleted_id,
        "canceled",
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ingest.stream_length() == length
    assert state["status"] == "canceled"
    assert kept_id != deleted_id


def test_an_update_replaces_a_waiting_embargoed_change(ingest: IngestProcess) -> None:
    length = ingest.stream_length()
    held = post(ingest, article(6, embargoed=later(3600)))
    assert held.json()["status"] == "embargoed" and held.json()["embargoed_until"]
    article_id = held.json()["article_id"]
    moved = post(ingest, article(6, headline="عنوان جديد", embargoed=later(7200)))
    assert moved.json()["status"] == "embargoed" and moved.json()["version"] == 2
    assert ingest.stream_length() == length
    with ingest.client() as client:  # the waiting change is read from the embargo hash
        waiting = client.get(f"/v1/articles/{article_id}").json()
    assert (waiting["headline"], waiting["version"], waiting["status"]) == (
        "عنوان جديد",
        2,
        "embargoed",
    )
    with ingest.redis() as client:
        release_at = client.zscore(EMBARGO_SCHEDULE, article_id)
    assert release_at is not None and release_at > (time.time() + 3600) * 1000

    lifted = post(ingest, article(6, headline="عنوان جديد", embargoed=None))
    assert lifted.json()["status"] == "usable" and lifted.json()["version"] == 3
    events = ingest.events()[length:]
    assert [(e.type, e.version, e.article.headline) for e in events] == [
        ("article.published", 3, "عنوان جديد")
    ]
    with ingest.redis() as client:
        assert client.zscore(EMBARGO_SCHEDULE, article_id) is None


def test_a_waiting_change_reads_back_whatever_its_ids_spell(ingest: IngestProcess) -> None:
    """The waiting event is found by its field name, even when an id's value is "data"."""
    held = post(
        ingest, article(11, uri="data", embargoed=later(3600)), **{"X-Correlation-Id": "data"}
    )
    assert held.json()["article_id"] == "data" and held.json()["status"] == "embargoed"
    with ingest.client() as client:
        waiting = client.get("/v1/articles/data").json()
    assert waiting["headline"] == ARTICLES[11]["headline"]


def test_withdrawing_an_embargoed_article_is_immediate(ingest: IngestProcess) -> None:
    held = post(ingest, article(7, embargoed=later(3600))).json()
    length = ingest.stream_length()
    with ingest.client() as client:
        gone = client.delete(f"/v1/articles/{held['article_id']}")
    assert gone.json()["status"] == "canceled"
    assert ingest.stream_length() == length + 1
    assert ingest.events()[-1].type == "article.withdrawn"
    with ingest.redis() as client:
        assert client.zscore(EMBARGO_SCHEDULE, held["article_id"]) is None


def test_embargo_is_released_after_a_restart_not_before(ingest: IngestProcess) -> None:
    length = ingest.stream_length()
    # Far enough ahead that the post and the stop both finish before it, even on a
    # loaded machine (at 3 s, a slow stop once let the running ingest release it).
    release_at = datetime.now(UTC) + timedelta(seconds=8)
    held = post(ingest, article(8, embargoed=release_at.isoformat()))
    assert held.status_code == 202 and held.json()["status"] == "embargoed"
    article_id = held.json()["article_id"]
    assert ingest.stream_length() == length

    ingest.stop()
    while datetime.now(UTC) < release_at + timedelta(seconds=1):
        time.sleep(0.2)
    assert ingest.stream_length() == length, "released while no ingest was running"
    ingest.start()

    eventually(lambda: ingest.stream_length() == length + 1)
    released = ingest.events()[-1]
    assert (released.article_id, released.version, released.type) == (
        article_id,
        1,
        "article.published",
    )
    assert released.article.headline == ARTICLES[8]["headline"]
    with ingest.client() as client:
        state = client.get(f"/v1/articles/{article_id}").json()
        history = client.get(f"/v1/articles/{article_id}/history").json()
    assert state["status"] == "usable" and state["published_version"] == 1
    assert [(h["type"], h["status"]) for h in history] == [
        ("article.published", "embargoed"),
        ("article.released", "usable"),
    ]
    assert datetime.fromisoformat(history[1]["accepted_at"]) >= release_at
    with ingest.redis() as client:
        stored = client.lrange(article_history_key(article_id), 0, -1)
    # Laid out by its model, as ingest drafted it: RELEASE writes in only the time.
    assert [list(orjson.loads(entry)) for entry in stored] == [list(HistoryEntry.model_fields)] * 2


async def test_racing_releasers_release_each_change_once(ingest: IngestProcess) -> None:
    ingest.stop()  # the releasers below are the only ones
    clients = [connect(ingest.redis_url) for _ in range(4)]
    stores = [ArticleStore(client, 3600) for client in clients]
    try:
        for n in range(5):
            document = article(9, uri=f"{ARTICLES[9]['uri']}-race-{n}", embargoed=later(0.5))
            await stores[0].accept(
                Change(article=parse_ninjs(document), submitted_by="test", correlation_id="race")
            )
        await asyncio.sleep(1.0)
        length = ingest.stream_length()
        released = await asyncio.gather(*(release_due(store) for store in stores))
        assert sum(released) == 5
        assert ingest.stream_length() == length + 5
        raced = [e.article_id for e in ingest.events() if e.correlation_id == "race"]
        assert len(raced) == len(set(raced)) == 5
    finally:
        for client in clients:
            await client.aclose()
        ingest.start()


async def test_a_release_drafted_from_a_replaced_change_appends_nothing(
    ingest: IngestProcess,
) -> None:
    """RELEASE writes the history entry ingest drafted from the waiting change it read; when
    that change was replaced meanwhile, the script refuses and ingest reads it again."""
    ingest.stop()  # no releaser but this test's
    client = connect(ingest.redis_url)
    store = ArticleStore(client, 3600)
    try:
        document = article(9, uri=f"{ARTICLES[9]['uri']}-replaced", embargoed=later(0.3))
        held = await store.accept(
            Change(article=parse_ninjs(document), submitted_by="test", correlation_id="replaced")
        )
        await asyncio.sleep(0.5)
        length = ingest.stream_length()
        article_id = held.article_id
        keys = [EMBARGO_SCHEDULE, EMBARGO_PENDING, ARTICLE_EVENTS_STREAM,
                article_state_key(article_id), article_history_key(article_id)]  # fmt: skip
        stale = await RELEASE.register(client)(keys=keys, args=[article_id, b"{}", b"", b""])
        assert stale == b"replaced"
        assert ingest.stream_length() == length
        assert await store.release(article_id) is not None
        assert ingest.stream_length() == length + 1
    finally:
        await client.aclose()
        ingest.start()


def test_batch_answers_per_item_and_repeats_append_nothing(ingest: IngestProcess) -> None:
    batch = [article(10), article(11), {"uri": "urn:bad", "headline": ""}, article(10)]
    length = ingest.stream_length()
    with ingest.client() as client:
        answer = client.post("/v1/articles/batch", json={"items": batch}).json()
        again = client.post("/v1/articles/batch", json=batch).json()
    outcomes = [(item["index"], item["outcome"]) for item in answer["items"]]
    assert outcomes == [(0, "accepted"), (1, "accepted"), (2, "rejected"), (3, "unchanged")]
    pointers = {e["pointer"] for e in answer["items"][2]["problem"]["errors"]}
    assert {"/headline", "/body_html"} <= pointers
    assert (answer["accepted"], answer["unchanged"], answer["rejected"]) == (2, 1, 1)
    assert ingest.stream_length() == length + 2
    assert (again["accepted"], again["unchanged"], again["rejected"]) == (0, 3, 1)
    assert ingest.stream_length() == length + 2


def test_a_batch_longer_than_one_script_call_keeps_order_and_versions(
    ingest: IngestProcess,
) -> None:
    """Items 0..59 span four ACCEPT calls (5, 25, 25, 5); item 40 (third call) is a new
    version of item 20's article (second call)."""
    batch = [article(index % 12, uri=f"urn:khabar:test:batch-order:{index}") for index in range(60)]
    batch[40] = {**batch[20], "headline": batch[20]["headline"] + " (updated)"}
    batch[45] = {"uri": "urn:bad", "headline": ""}
    length = ingest.stream_length()
    with ingest.client() as client:
        answer = client.post("/v1/articles/batch", json=batch).json()
        history = client.get(f"/v1/articles/{answer['items'][20]['article_id']}/history").json()
    assert [item["index"] for item in answer["items"]] == list(range(60))
    assert (answer["accepted"], answer["rejected"]) == (59, 1)
    assert answer["items"][45]["outcome"] == "rejected"
    assert answer["items"][20]["article_id"] == answer["items"][40]["article_id"]
    assert (answer["items"][20]["version"], answer["items"][40]["version"]) == (1, 2)
    assert [entry["type"] for entry in history] == ["article.published", "article.updated"]
    assert ingest.stream_length() == length + 59


def test_batch_items_carry_their_own_base_version_and_idempotency_key(
    ingest: IngestProcess,
) -> None:
    first = article(6, uri="urn:khabar:test:envelope:x")
    other = article(7, uri="urn:khabar:test:envelope:y")
    edited = {**first, "headline": first["headline"] + " (2)"}
    batch = [
        {"article": first, "base_version": 0},
        {"article": edited, "base_version": 1},
        {"article": {**first, "headline": "stale"}, "base_version": 1},
        {"article": other, "idempotency_key": "desk-42"},
        {"article": {**other, "headline": ""}, "base_version": "3", "note": "x"},
    ]
    length = ingest.stream_length()
    with ingest.client() as client:
        answer = client.post("/v1/articles/batch", json=batch).json()
        again = client.post(
            "/v1/articles/batch",
            json=[
                {"article": {**other, "headline": "other content"}, "idempotency_key": "desk-42"},
                {"article": other, "idempotency_key": "desk-42"},
                {"article": {**first, "uri": "urn:khabar:test:envelope:z"}, "base_version": 0},
                {"article": first, "base_version": 0},
            ],
        ).json()
    items = answer["items"]
    assert [(item["outcome"], item["status"]) for item in items] == [
        ("accepted", 202),
        ("accepted", 202),
        ("rejected", 409),
        ("accepted", 202),
        ("rejected", 422),
    ]
    assert (items[0]["version"], items[1]["version"]) == (1, 2)
    stale = items[2]["problem"]
    assert stale["current_version"] == 2
    assert [error["pointer"] for error in stale["errors"]] == ["/base_version"]
    pointers = {error["pointer"] for error in items[4]["problem"]["errors"]}
    assert pointers == {"/note", "/base_version", "/article/headline"}
    assert [(item["outcome"], item["status"]) for item in again["items"]] == [
        ("rejected", 422),
        ("unchanged", 202),
        ("accepted", 202),
        ("rejected", 409),
    ]
    assert again["items"][0]["problem"]["errors"][0]["pointer"] == "/idempotency_key"
    assert again["items"][3]["problem"]["current_version"] == 2
    assert ingest.stream_length() == length + 4


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines
        )
    )
    return path


def summary_count(output: str, outcome: str) -> int:
    found = re.search(rf"{outcome}\s*│\s*(\d+)", output)
    assert found, f"no {outcome} row in:\n{output}"
    return int(found.group(1))


def test_khabar_import_keeps_each_articles_order_and_sums_up(
    ingest: IngestProcess, tmp_path: Path
) -> None:
    """Five batches of two, two in flight: article A changes in batches 0, 1 and 4 and gets
    versions 1, 2, 3 in file order; a bad item, an unreadable line and a repeat are counted."""
    docs = [article(index, uri=f"urn:khabar:test:import:{index}") for index in range(6)]
    first = docs[0]
    lines = [
        first,
        docs[1],
        {**first, "headline": first["headline"] + " (2)"},
        docs[2],
        {"uri": "urn:khabar:test:import:bad", "headline": ""},
        docs[3],
        b"{not json",
        docs[4],
        docs[5],
        {**first, "headline": first["headline"] + " (3)"},
        docs[1],
    ]
    source = write_lines(tmp_path / "desk.jsonl", lines)
    length = ingest.stream_length()
    result = CliRunner().invoke(
        cli,
        [
            "import",
            str(source),
            "--ingest-url",
            ingest.url,
            "--key",
            ingest.key,
            "--batch-size",
            "2",
        ],
        env={"COLUMNS": "240"},
    )
    assert result.exit_code == EXIT_PROBLEMS, result.output  # two were refused
    counts = {
        outcome: summary_count(result.output, outcome)
        for outcome in ("accepted", "embargoed", "unchanged", "rejected", "lost")
    }
    assert counts == {"accepted": 8, "embargoed": 0, "unchanged": 1, "rejected": 2, "lost": 0}
    reasons = [line for line in result.output.splitlines() if "desk.jsonl:" in line]
    assert len(reasons) == 2, result.output
    assert any("/headline" in line and "desk.jsonl:5" in line for line in reasons)
    assert any("not JSON" in line and "desk.jsonl:7" in line for line in reasons)
    assert ingest.stream_length() == length + 8
    first_id = parse_ninjs(first).id
    changes = [event for event in ingest.events() if event.article_id == first_id]
    assert [(event.version, event.article.headline) for event in changes] == [
        (1, first["headline"]),
        (2, first["headline"] + " (2)"),
        (3, first["headline"] + " (3)"),
    ]


def test_khabar_import_names_an_unreadable_source_and_imports_the_rest(
    ingest: IngestProcess, tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "desk.jsonl", [article(1, uri="urn:khabar:test:readable")])
    missing = tmp_path / "missing.jsonl"
    length = ingest.stream_length()
    result = CliRunner().invoke(
        cli,
        ["import", str(missing), str(source), "--ingest-url", ingest.url, "--key", ingest.key],
        env={"COLUMNS": "240"},
    )
    assert result.exit_code == 1, result.output
    assert summary_count(result.output, "accepted") == 1
    assert summary_count(result.output, "rejected") == 1
    assert "could not read the source" in result.output and str(missing) in result.output
    assert ingest.stream_length() == length + 1


class FeedHost:
    """A local web server with one RSS feed; it remembers the headers it was sent."""

    def __init__(self, feed: bytes) -> None:
        self.headers: list[dict[str, str]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(feed)))
                self.end_headers()
                self.wfile.write(feed)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wire.rss"


def test_khabar_import_reads_a_feed_by_url_without_sending_the_ingest_key(
    ingest: IngestProcess,
) -> None:
    host = FeedHost((FEEDS / "skynews-arabic.rss.xml").read_bytes())
    try:
        args = ["import", host.url, "--ingest-url", ingest.url, "--key", ingest.key]
        first = CliRunner().invoke(cli, args, env={"COLUMNS": "240"})
        again = CliRunner().invoke(cli, args, env={"COLUMNS": "240"})
    finally:
        host.server.shutdown()
    # The feed has one entry without a title: refused, so the import exits 1.
    assert first.exit_code == again.exit_code == EXIT_PROBLEMS, first.output + again.output
    assert summary_count(first.output, "rejected") == 1
    accepted = summary_count(first.output, "accepted")
    assert accepted > 0
    assert summary_count(again.output, "unchanged") == accepted  # re-reading adds nothing
    assert len(host.headers) == 2
    assert all("authorization" not in {name.lower() for name in sent} for sent in host.headers)
    assert all(ingest.key not in str(sent) for sent in host.headers)


def test_khabar_import_stops_at_a_refused_key(ingest: IngestProcess, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "desk.jsonl", [article(0, uri="urn:khabar:test:nokey")])
    length = ingest.stream_length()
    result = CliRunner().invoke(
        cli, ["import", str(source), "--ingest-url", ingest.url, "--key", "not-a-key"]
    )
    assert result.exit_code == EXIT_REFUSED
    assert "refused the key" in result.output.lower()
    assert ingest.stream_length() == length


class FlakyIngest:
    """A proxy in front of ingest that fails the first requests as told (an HTTP status, or
    "drop": the connection is closed without an answer), then forwards."""

    def __init__(self, target: str, failures: list[int | str]) -> None:
        self.posts = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.posts += 1
                failure = failures.pop(0) if failures else None
                if failure == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if failure is not None:
                    self.answer(int(failure), b'{"title": "upstream trouble"}')
                    return
                sent = httpx.post(
                    target + self.path,
                    content=body,
                    timeout=60,
                    headers={
                        "Authorization": self.headers["Authorization"],
                        "Content-Type": "application/json",
                    },
                )
                self.answer(sent.status_code, sent.content)

            def answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def import_through(proxy: FlakyIngest, ingest: IngestProcess, source: Path, *args: str) -> Any:
    try:
        return CliRunner().invoke(
            cli,
            ["import", str(source), "--ingest-url", proxy.url, "--key", ingest.key, *args],
            env={"COLUMNS": "240"},
        )
    finally:
        proxy.server.shutdown()


def test_khabar_import_retries_a_5xx_and_a_dropped_connection(
    ingest: IngestProcess, tmp_path: Path
) -> None:
    docs = [article(n, uri=f"urn:khabar:test:retried-{n}") for n in range(4)]
    source = write_lines(tmp_path / "desk.jsonl", docs)
    length = ingest.stream_length()
    proxy = FlakyIngest(ingest.url, [503, "drop", 502])
    result = import_through(proxy, ingest, source, "--batch-size", "2", "--in-flight", "1")
    assert result.exit_code == 0, result.output
    assert summary_count(result.output, "accepted") == 4
    assert summary_count(result.output, "lost") == 0
    assert proxy.posts == 5  # two batches, three failed tries
    assert ingest.stream_length() == length + 4


def test_khabar_import_counts_a_batch_failing_every_try_as_lost_and_exits_1(
    ingest: IngestProcess, tmp_path: Path
) -> None:
    source = write_lines(
        tmp_path / "desk.jsonl", [article(n, uri=f"urn:khabar:test:lost-{n}") for n in range(3)]
    )
    length = ingest.stream_length()
    proxy = FlakyIngest(ingest.url, [502] * 10)
    result = import_through(proxy, ingest, source, "--retries", "2")
    assert result.exit_code == EXIT_PROBLEMS, result.output
    assert summary_count(result.output, "lost") == 3
    assert proxy.posts == 3  # the first try and two more
    assert any("desk.jsonl:1" in line and "502" in line for line in result.output.splitlines())
    assert ingest.stream_length() == length


def test_khabar_import_with_ingest_down_names_it_and_exits_3(
    ingest: IngestProcess, tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "desk.jsonl", [article(0, uri="urn:khabar:test:down")])
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        cli,
        ["import", str(source), "--ingest-url", url, "--key", ingest.key, "--retries", "1"],
        env={"COLUMNS": "240"},
    )
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert f"khabar: ingest is down at {url}" in result.output
    assert "Traceback" not in result.output


def make_key(ingest: IngestProcess, name: str, scope: str) -> str:
    result = CliRunner().invoke(
        cli, ["keys", "create", name, "--scope", scope], env={"KHABAR_REDIS_URL": ingest.redis_url}
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1].strip()
    CREATED_KEYS.append(key)
    return key


def test_keys_made_with_the_cli_have_names_and_scopes(ingest: IngestProcess) -> None:
    writer, reader = make_key(ingest, "desk-cms", "write"), make_key(ingest, "site", "read")
    listing = CliRunner().invoke(cli, ["keys", "list"], env={"KHABAR_REDIS_URL": ingest.redis_url})
    assert "desk-cms" in listing.output and "site" in listing.output
    assert writer not in listing.output

    with ingest.client(writer) as client:
        posted = client.post("/v1/articles", json=article(0, uri=ARTICLES[0]["uri"] + "-k"))
    assert posted.status_code == 202
    assert ingest.events()[-1].submitted_by == "desk-cms"
    with ingest.client(reader) as client:
        assert client.get(f"/v1/articles/{posted.json()['article_id']}").status_code == 200
        assert client.post("/v1/articles", json=article(1)).status_code == 403
        assert client.delete(f"/v1/articles/{posted.json()['article_id']}").status_code == 403

    revoked = CliRunner().invoke(
        cli, ["keys", "revoke", "desk-cms"], env={"KHABAR_REDIS_URL": ingest.redis_url}
    )
    assert revoked.exit_code == 0
    with ingest.client(writer) as client:
        # Known keys are remembered for KHABAR_KEY_CACHE_S (set to 1 s here).
        eventually(lambda: client.post("/v1/articles", json=article(1)).status_code == 401)


def test_no_key_appears_in_any_log_line(ingest: IngestProcess) -> None:
    log = ingest.log_text()
    assert '"key_name": "bootstrap"' in log and '"key_name": "desk-cms"' in log
    assert len(CREATED_KEYS) == 2
    for key in [ingest.key, *CREATED_KEYS]:
        assert key not in log
