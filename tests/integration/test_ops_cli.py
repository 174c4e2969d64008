"""`khabar status | dead-letters | replay | trim | trace` against a real Redis."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from typer.testing import CliRunner

from khabar_cli.failures import EXIT_PROBLEMS, EXIT_REFUSED, EXIT_UNAVAILABLE, explain
from khabar_cli.main import app
from khabar_dev.processes import ProcessGroup, free_port, wait_until
from khabar_search.meili import MeiliWriter
from khabar_shared.consumer import StreamConsumer
from khabar_shared.events import ArticleEvent, encode_event
from khabar_shared.names import (
    ARTICLE_EVENTS_STREAM,
    ENRICH_GROUP,
    ENRICHED_STREAM,
    RENDER_GROUP,
    SEARCH_GROUP,
    SEARCH_NODES_KEY,
    applied_key,
    article_history_key,
    article_state_key,
    dead_letter_stream,
)
from khabar_shared.settings import CommonSettings
from tests.conftest import DATABASES, Servers
from tests.support import real_articles, to_ninjs

runner = CliRunner()


@pytest.fixture()
def redis_url(servers: Servers) -> Iterator[str]:
    url = servers.redis_url.rsplit("/", 1)[0] + f"/{next(DATABASES)}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


def khabar(redis_url: str, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"KHABAR_REDIS_URL": redis_url, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def article_events(count: int) -> list[ArticleEvent]:
    from khabar_ingest.formats.ninjs import parse_ninjs

    events = []
    for record in real_articles(count, min_words=60):
        article = parse_ninjs(to_ninjs(record))
        events.append(
            ArticleEvent(
                event_id=str(uuid.uuid4()),
                type="article.published",
                article_id=article.id,
                version=1,
                correlation_id=str(uuid.uuid4()),
                accepted_at=datetime.now(UTC),
                submitted_by="cli-test",
                article=article,
            )
        )
    return events


def fill(client: redis.Redis, stream: str, count: int) -> list[str]:
    return [client.xadd(stream, {"n": str(n)}).decode() for n in range(count)]


def block(output: str, header: str) -> str:
    """A status block: its header line and the indented lines under it, joined by spaces."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.rstrip() == header)
    end = next(
        (n for n in range(start + 1, len(lines)) if not lines[n].startswith("  ")), len(lines)
    )
    return " ".join(line.strip() for line in lines[start:end])


def test_status_shows_length_lag_pending_dead_letters_and_consumers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    ids = fill(client, ARTICLE_EVENTS_STREAM, 5)
    client.xgroup_create(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, id="0")
    client.xreadgroup(ENRICH_GROUP, "enrich-host-41", {ARTICLE_EVENTS_STREAM: ">"}, count=3)
    client.xack(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, ids[0])
    client.xadd(dead_letter_stream(ARTICLE_EVENTS_STREAM), {"reason": "malformed"})
    output = khabar(redis_url, "status")
    enrich = block(output, f"{ARTICLE_EVENTS_STREAM}  group {ENRICH_GROUP}")
    assert "length 5  lag 2  pending 2  oldest pending " in enrich
    assert "dead letters 1" in enrich and "consumers (pending) enrich-host-41:2" in enrich
    render = block(output, f"{ENRICHED_STREAM}  group {RENDER_GROUP}")
    assert "consumers (pending) (none)" in render


def test_status_fits_80_columns_with_every_figure(redis_url: str, servers: Servers) -> None:
    """Piped, rich draws 80 columns: a table of eight columns cut its figures to "…"."""
    client = redis.Redis.from_url(redis_url)
    fill(client, ARTICLE_EVENTS_STREAM, 7)
    client.xgroup_create(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, id="0")
    consumers = [f"enrich-newsroom-host-{n}-pid-4242{n}-0f3c9a7e" for n in range(3)]
    for consumer in consumers:
        client.xreadgroup(ENRICH_GROUP, consumer, {ARTICLE_EVENTS_STREAM: ">"}, count=2)
    client.xadd(dead_letter_stream(ARTICLE_EVENTS_STREAM), {"reason": "malformed"})
    client.hset(SEARCH_NODES_KEY, mapping={"1": servers.meili_url})
    result = runner.invoke(app, ["status"], env={"KHABAR_REDIS_URL": redis_url, "COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.output.splitlines()), result.output
    assert "…" not in result.output
    enrich = block(result.output, f"{ARTICLE_EVENTS_STREAM}  group {ENRICH_GROUP}")
    assert "length 7  lag 1  pending 6  oldest pending " in enrich, enrich
    assert "dead letters 1" in enrich
    for consumer in consumers:
        assert f"{consumer}:2" in enrich
    node = block(result.output, f"node 1  group {SEARCH_GROUP}  {servers.meili_url}")
    assert "lag " in node and "pending " in node and "last applied never" in node
    assert "last event -" in node


def test_status_names_a_search_node_whose_meilisearch_does_not_answer(
    redis_url: str, servers: Servers
) -> None:
    """A dead node's lag only grows (slowly, at a quiet hour): status says it is down, exits 1."""
    client = redis.Redis.from_url(redis_url)
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client.hset(SEARCH_NODES_KEY, mapping={"1": servers.meili_url, "2": dead_url})
    result = runner.invoke(app, ["status"], env={"KHABAR_REDIS_URL": redis_url, "COLUMNS": "250"})
    assert result.exit_code == EXIT_PROBLEMS, result.output
    assert f"node 2 at {dead_url}" in result.output
    assert "node 1 at" not in result.output
    assert f"{servers.meili_url} (down)" not in result.output


async def make_dead_letters(redis_url: str, events: list[ArticleEvent]) -> None:
    client = aioredis.Redis.from_url(redis_url)
    consumer = StreamConsumer(
        ARTICLE_EVENTS_STREAM,
        ENRICH_GROUP,
        ArticleEvent,
        lambda _: asyncio.sleep(0),
        client,
        CommonSettings(),
    )
    for n, event in enumerate(events):
        fields = {
            k.encode(): v if isinstance(v, bytes) else v.encode()
            for k, v in encode_event(event).items()
        }
        message_id = (await client.xadd(ARTICLE_EVENTS_STREAM, fields)).decode()
        await consumer.dead_letter(
            message_id,
            fields,
            f"Traceback ...\nKeyError: 'gazetteer-{n}'",
            6,
            reason="max_deliveries",
        )
    await client.aclose()


def test_dead_letters_list_show_replay_drop(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, id="0", mkstream=True)
    events = article_events(3)
    asyncio.run(make_dead_letters(redis_url, events))
    dead = dead_letter_stream(ARTICLE_EVENTS_STREAM)
    dead_ids = [entry_id.decode() for entry_id, _ in client.xrange(dead)]
    assert len(dead_ids) == 3

    listed = khabar(redis_url, "dead-letters", "list")
    assert all(event.article_id in listed for event in events)
    assert "KeyError: 'gazetteer-1'" in listed and "max_deliveries" in listed

    shown = khabar(redis_url, "dead-letters", "show", dead_ids[0])
    assert "KeyError: 'gazetteer-0'" in shown and events[0].article.headline in shown

    before = client.xlen(ARTICLE_EVENTS_STREAM)
    replayed = khabar(redis_url, "dead-letters", "replay", dead_ids[1])
    assert f"replayed {dead_ids[1]}" in replayed
    assert client.xlen(ARTICLE_EVENTS_STREAM) == before + 1
    ((_, copy),) = client.xrevrange(ARTICLE_EVENTS_STREAM, count=1)
    assert json.loads(copy[b"data"])["event_id"] == events[1].event_id
    assert [i.decode() for i, _ in client.xrange(dead)] == [dead_ids[0], dead_ids[2]]

    dropped = khabar(redis_url, "dead-letters", "drop", "--all", "--yes")
    assert "2 dead letter(s) dropped" in dropped
    assert client.xlen(dead) == 0
    assert "No dead letters" in khabar(redis_url, "dead-letters", "list")


def test_replay_rewinds_one_group_and_leaves_the_others(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    ids = fill(client, ENRICHED_STREAM, 6)
    for group in (SEARCH_GROUP, RENDER_GROUP):
        client.xgroup_create(ENRICHED_STREAM, group, id="0")
        read = client.xreadgroup(group, "c1", {ENRICHED_STREAM: ">"})
        client.xack(ENRICHED_STREAM, group, *[entry_id for entry_id, _ in read[0][1]])

    dry = khabar(redis_url, "replay", ENRICHED_STREAM, RENDER_GROUP, "--from", ids[2], "--dry-run")
    assert "4 event(s)" in dry
    assert client.xreadgroup(RENDER_GROUP, "c1", {ENRICHED_STREAM: ">"}) == []

    khabar(redis_url, "replay", ENRICHED_STREAM, RENDER_GROUP, "--from", ids[2], "--yes")
    again = client.xreadgroup(RENDER_GROUP, "c2", {ENRICHED_STREAM: ">"})
    assert [entry_id.decode() for entry_id, _ in again[0][1]] == ids[2:]
    assert client.xreadgroup(SEARCH_GROUP, "c2", {ENRICHED_STREAM: ">"}) == []


def test_trim_never_drops_an_event_a_group_has_not_acked(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    articles = fill(client, ARTICLE_EVENTS_STREAM, 10)
    client.xgroup_create(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, id="0")
    read = client.xreadgroup(ENRICH_GROUP, "c1", {ARTICLE_EVENTS_STREAM: ">"}, count=6)
    client.xack(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, *articles[:4])  # 5th and 6th stay pending
    assert len(read[0][1]) == 6

    enriched = fill(client, ENRICHED_STREAM, 10)
    client.xgroup_create(ENRICHED_STREAM, SEARCH_GROUP, id="0")
    client.xgroup_create(ENRICHED_STREAM, RENDER_GROUP, id="0")
    client.xreadgroup(SEARCH_GROUP, "c1", {ENRICHED_STREAM: ">"})
    client.xack(ENRICHED_STREAM, SEARCH_GROUP, *enriched)
    client.xreadgroup(RENDER_GROUP, "c1", {ENRICHED_STREAM: ">"}, count=7)
    client.xack(ENRICHED_STREAM, RENDER_GROUP, *enriched[:7])  # render: 3 undelivered

    plan = khabar(redis_url, "trim", "--keep-days", "0", "--dry-run")
    assert client.xlen(ARTICLE_EVENTS_STREAM) == 10
    assert "render" in plan and "enrich" in plan

    khabar(redis_url, "trim", "--keep-days", "0", "--yes")
    assert [i.decode() for i, _ in client.xrange(ARTICLE_EVENTS_STREAM)] == articles[4:]
    assert [i.decode() for i, _ in client.xrange(ENRICHED_STREAM)] == enriched[7:]
    khabar(redis_url, "trim", "--yes")  # the default keeps a year: nothing more goes
    assert client.xlen(ENRICHED_STREAM) == 3


def test_an_article_whose_latest_event_is_trimmed_can_still_be_read_and_withdrawn(
    redis_url: str,
) -> None:
    """The state names its latest event's entry (no second copy); a trim keeps the event."""
    from khabar_ingest.app import withdrawn
    from khabar_ingest.formats.ninjs import parse_ninjs
    from khabar_ingest.store import ArticleStore, Change

    client = redis.Redis.from_url(redis_url)
    first, second = (parse_ninjs(to_ninjs(record)) for record in real_articles(2, min_words=60))

    async def accept(*articles):
        store = ArticleStore(aioredis.from_url(redis_url), idempotency_ttl_s=60)
        return [await store.accept(Change(article, "cli-test", "corr")) for article in articles]

    async def current(article_id: str):
        return await ArticleStore(aioredis.from_url(redis_url), 60).current(article_id)

    asyncio.run(accept(first, second))
    state = client.hgetall(article_state_key(first.id))
    (entry_id, _), second_entry = client.xrange(ARTICLE_EVENTS_STREAM)
    assert state[b"entry"] == entry_id and state[b"event"] == b""  # no copy kept
    assert asyncio.run(current(first.id)).article == first

    client.xgroup_create(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, id="0")
    client.xreadgroup(ENRICH_GROUP, "c1", {ARTICLE_EVENTS_STREAM: ">"})
    client.xack(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, entry_id, second_entry[0])
    khabar(redis_url, "trim", "--keep-days", "0", "--yes")
    # Compacted: a live article's latest event stays in the stream, and is not copied.
    assert client.xlen(ARTICLE_EVENTS_STREAM) == 2
    assert client.hgetall(article_state_key(first.id))[b"event"] == b""

    assert asyncio.run(current(first.id)).article == first
    (withdrawal,) = asyncio.run(accept(withdrawn(first)))
    *_, (withdrawal_id, fields) = client.xrange(ARTICLE_EVENTS_STREAM)
    event = ArticleEvent.model_validate_json(fields[b"data"])
    assert (event.type, event.version, withdrawal.version) == ("article.withdrawn", 2, 2)
    assert event.article.body_html == first.body_html  # the full article, from the kept event
    state = client.hgetall(article_state_key(first.id))
    assert state[b"event"] == b"" and state[b"entry"] != b""  # the new version is in the stream

    client.xreadgroup(ENRICH_GROUP, "c1", {ARTICLE_EVENTS_STREAM: ">"})
    client.xack(ARTICLE_EVENTS_STREAM, ENRICH_GROUP, withdrawal_id)
    khabar(redis_url, "trim", "--keep-days", "0", "--yes")
    # The withdrawn article's events go; its last one moved into its state first.
    assert [i for i, _ in client.xrange(ARTICLE_EVENTS_STREAM)] == [second_entry[0]]
    assert client.hgetall(article_state_key(first.id))[b"event"] != b""
    assert asyncio.run(current(first.id)).version == 2
    assert asyncio.run(current(second.id)).article == second


def test_a_state_written_before_entries_were_named_still_reads(redis_url: str) -> None:
    """States from before the state named its entry hold the event itself: still read."""
    from khabar_ingest.store import ArticleStore

    (event,) = article_events(1)
    client = redis.Redis.from_url(redis_url)
    client.hset(
        article_state_key(event.article_id),
        mapping={
            "version": 1,
            "hash": "h",
            "status": "usable",
            "appended": 1,
            "updated_at": event.accepted_at.isoformat(),
            "embargoed_until": "",
            "event": event.model_dump_json(),
            "answer": json.dumps(
                {
                    "article_id": event.article_id,
                    "version": 1,
                    "event_id": event.event_id,
                    "status": "usable",
                    "accepted_at": event.accepted_at.isoformat(),
                    "correlation_id": event.correlation_id,
                }
            ),
        },
    )

    async def current():
        return await ArticleStore(aioredis.from_url(redis_url), 60).current(event.article_id)

    assert asyncio.run(current()).article == event.article


def test_trace_shows_applied_and_pending_stages(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    accepted = datetime.now(UTC) - timedelta(minutes=10)
    for version in (1, 2):
        client.rpush(
            article_history_key("ar-2018-cli"),
            json.dumps(
                {
                    "version": version,
                    "event_id": f"event-{version}",
                    "status": "usable",
                    "accepted_at": (accepted + timedelta(minutes=version)).isoformat(),
                    "correlation_id": f"corr-{version}",
                    "submitted_by": "cms",
                }
            ),
        )
    for group in (ENRICH_GROUP, SEARCH_GROUP, RENDER_GROUP):
        client.hset(
            applied_key(group, "ar-2018-cli"),
            "1",
            (accepted + timedelta(minutes=1, seconds=2)).isoformat(),
        )
    client.hset(
        applied_key(ENRICH_GROUP, "ar-2018-cli"),
        "2",
        (accepted + timedelta(minutes=2, seconds=1)).isoformat(),
    )
    output = khabar(redis_url, "trace", "ar-2018-cli")
    rows = {
        line.split("│")[1].strip(): line
        for line in output.splitlines()
        if line.startswith("│") and line.split("│")[1].strip().isdigit()
    }
    assert set(rows) == {"1", "2"}
    assert rows["1"].count("+2.0s") == 3 and "corr-1" in rows["1"]
    assert "+1.0s" in rows["2"] and rows["2"].count("pending") == 2
    missing = runner.invoke(app, ["trace", "no-such-article"], env={"KHABAR_REDIS_URL": redis_url})
    assert missing.exit_code == 1 and "No article" in missing.output


def test_trim_applies_the_retention_of_histories_and_dead_letters(redis_url: str) -> None:
    """Histories keep each article's newest entry; dead letters go after --dead-letter-days."""
    from khabar_ingest.formats.ninjs import parse_ninjs
    from khabar_ingest.store import ArticleStore, Change

    client = redis.Redis.from_url(redis_url)
    article = parse_ninjs(to_ninjs(real_articles(1, min_words=60)[0]))
    corrected = article.model_copy(update={"headline": article.headline + " (corrected)"})

    async def accept() -> None:
        store = ArticleStore(aioredis.from_url(redis_url), idempotency_ttl_s=60)
        for version in (article, corrected):
            await store.accept(Change(version, "cli-test", "corr"))

    asyncio.run(accept())
    history = article_history_key(article.id)
    assert client.llen(history) == 2
    dead = dead_letter_stream(ENRICHED_STREAM)
    client.xadd(dead, {"n": "old"}, id="1000-0")
    recent = client.xadd(dead, {"n": "recent"})

    khabar(redis_url, "trim", "--yes")  # defaults: a year of histories, 90 days of dead letters
    assert client.llen(history) == 2
    assert [i for i, _ in client.xrange(dead)] == [recent]

    khabar(redis_url, "trim", "--history-days", "0", "--yes")
    (newest,) = client.lrange(history, 0, -1)
    assert json.loads(newest)["version"] == 2


OUTAGE_COMMANDS = [
    ["status"],
    ["keys", "list"],
    ["trace", "some-article"],
    ["trim", "--dry-run"],
    ["replay", ARTICLE_EVENTS_STREAM, ENRICH_GROUP, "--from", "0", "--yes"],
    ["dead-letters", "list"],
    ["aliases", "list"],
]


@pytest.mark.parametrize("args", OUTAGE_COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_with_redis_down_a_command_says_so_in_one_line_and_exits_3(args: list[str]) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"  # nothing listens there
    result = runner.invoke(app, args, env={"KHABAR_REDIS_URL": url, "COLUMNS": "200"})
    lines = result.output.strip().splitlines()
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert len(lines) == 1, result.output
    assert "Redis is down" in lines[0] and url.replace("hunter2", "***") in lines[0]
    assert "hunter2" not in result.output  # the password stays out of the terminal


def test_reindex_with_meilisearch_down_says_so_in_one_line_and_exits_3(redis_url: str) -> None:
    meili_url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(
        app, ["reindex"], env={"KHABAR_REDIS_URL": redis_url, "KHABAR_MEILI_URL": meili_url}
    )
    lines = result.output.strip().splitlines()
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert lines == [
        (f"khabar: Meilisearch is down at {meili_url} (KHABAR_MEILI_URL): Connection refused")
    ]


async def test_meilisearch_lost_while_documents_are_sent_says_so_in_one_line() -> None:
    """Documents go over a connection of their own (search's meili_documents.py): Meilisearch
    gone by the time a reindex sends them is named the same way, with the same exit code."""
    writer = MeiliWriter(f"http://127.0.0.1:{free_port()}", "key", "articles")
    with pytest.raises(Exception) as caught:
        await writer.apply([{"id": "a"}], [])
    await writer.aclose()
    found = explain(caught.value)
    assert found is not None, repr(caught.value)
    assert found[1] == EXIT_UNAVAILABLE
    assert found[0].startswith("Meilisearch is down at ")


def test_a_wrong_redis_password_is_named_and_exits_4(tmp_path: Path) -> None:
    group, port = ProcessGroup(), free_port()
    group.start(
        "redis-with-password",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--requirepass",
            "the-password",
            "--dir",
            str(tmp_path),
        ],
        log_path=tmp_path / "redis.log",
    )
    try:
        wait_until(lambda: redis.Redis(port=port, password="the-password").ping(), 20, "redis")
        url = f"redis://:not-the-password@127.0.0.1:{port}/0"
        result = runner.invoke(app, ["status"], env={"KHABAR_REDIS_URL": url})
        good = runner.invoke(
            app, ["status"], env={"KHABAR_REDIS_URL": f"redis://:the-password@127.0.0.1:{port}/0"}
        )
        # KHABAR_REDIS_PASSWORD (compose's way) goes into a URL that names none.
        by_setting = runner.invoke(
            app,
            ["status"],
            env={
                "KHABAR_REDIS_URL": f"redis://127.0.0.1:{port}/0",
                "KHABAR_REDIS_PASSWORD": "the-password",
            },
        )
    finally:
        group.stop_all()
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "refused the credentials" in result.output and "not-the-password" not in result.output
    assert good.exit_code == 0, good.output
    assert by_setting.exit_code == 0, by_setting.output
