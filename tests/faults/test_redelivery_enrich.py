"""Enrich stopped between any two of its writes, then the batch redelivered: same end state.

A day's news is enriched, then a batch of new articles (which refresh older
ones' related links), an update and a withdrawal. For every failpoint enrich
declares (`khabar_shared.failpoints`; the per-article one at the batch's
first, middle and last article), the batch is handled with the handler
stopped there, then handled again, as the consumer would redeliver it: by a
new process after a kill, or by the same process after a failed write.
Everything enrich leaves in Redis must then equal what the same batch
leaves without a fault: each event of the batch on the
enriched stream exactly once (every article's `article.enriched` at its
latest version, the same refreshes with the same links), and the same index,
document frequencies, copies, related lists and reverse index (who links to
each article, which the update and the withdrawal refresh).
"""

import json
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import khabar_enrich.handler  # noqa: F401 - declares enrich's failpoints
from khabar_dev.corpus import ANT, corpus_file
from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_enrich.copies import linkers_key, links_key
from khabar_enrich.handler import Enricher
from khabar_enrich.index import RelatedIndex
from khabar_enrich.scoring import published_at
from khabar_enrich.settings import EnrichSettings
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared import failpoints
from khabar_shared.consumer import Delivery
from khabar_shared.events import ArticleEvent, EnrichedEvent, decode_event
from khabar_shared.names import ENRICHED_STREAM
from khabar_shared.redis_helpers import RedisClient, connect
from tests.integration.test_enrich_related import event

DAY = "20180216"
SEEDED = 30  # articles enriched before the batch
NEW = 8  # new articles in the batch, published after the seeded ones
# The per-article point is walked at the batch's first, a middle and its last event.
POINTS = [
    (name, after)
    for name in failpoints.declared("enrich.")
    for after in ((0, 4, NEW + 1) if name == "enrich.indexed" else (0,))
]
# Fields that differ between any two runs: new ids and clocks.
VOLATILE = {"event_id", "enriched_at"}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, Path(tmp_path_factory.mktemp("enrich-redelivery")), free_port())
    finally:
        group.stop_all()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect(redis_url, cluster=False)
    failpoints.disarm_all()
    yield client
    failpoints.disarm_all()
    await client.aclose()


@pytest.fixture(scope="module")
def events() -> tuple[list[ArticleEvent], list[ArticleEvent]]:
    """The seeded day, then the batch: new articles, an update and a withdrawal of seeded ones."""
    day = sorted(
        (a for a in iter_corpus(corpus_file(ANT), limit=1500) if a.id.endswith(DAY)),
        key=published_at,
    )
    seeded, new, other = day[:SEEDED], day[SEEDED : SEEDED + NEW], day[SEEDED + NEW]
    assert len(new) == NEW
    batch = [event(a) for a in new[: NEW // 2]]
    # Rewritten with another article's text: the lists that linked to it are rescored.
    batch.append(
        event(seeded[-3], 2, headline=other.headline, lead=other.lead, body_html=other.body_html)
    )
    batch.append(event(seeded[-5], 2, pubstatus="canceled"))
    batch += [event(a) for a in new[NEW // 2 :]]
    return [event(a) for a in seeded], batch


def new_process(redis: RedisClient) -> Enricher:
    """An enrich process as one starts after a kill: nothing in memory."""
    settings = EnrichSettings()
    return Enricher(redis, RelatedIndex(redis, settings), settings)


async def handle(redis: RedisClient, events: list[ArticleEvent]) -> None:
    await new_process(redis).handle([Delivery(f"{n}-0", e) for n, e in enumerate(events)])


def normalized(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def readable(raw: bytes) -> Any:
    """A stored value as compared: JSON parsed (copies are compressed), else the bytes."""
    if raw.startswith(b"x"):  # zlib's header
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass
    try:
        return normalized(json.loads(raw))
    except ValueError:
        return raw


async def key_state(redis: RedisClient) -> dict[str, Any]:
    """Every key but the stream, by name, its value normalized (revisions are random: only
    which articles have one)."""
    state: dict[str, Any] = {}
    for key in sorted(k.decode() for k in await redis.keys("*")):
        kind = (await redis.type(key)).decode()
        if key == ENRICHED_STREAM:
            continue
        if kind == "string":
            state[key] = readable(await redis.get(key))
        elif kind == "hash":
            values = await redis.hgetall(key)
            state[key] = (
                sorted(values)
                if key.endswith(":revs")
                else {f: readable(v) for f, v in values.items()}
            )
        elif kind == "zset":
            state[key] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            state[key] = sorted(await redis.smembers(key))
        else:
            state[key] = kind
    return state


async def stream_after(redis: RedisClient, start: str) -> Counter[str]:
    """The events appended after `start`, each normalized, counted."""
    entries = await redis.xrange(ENRICHED_STREAM, f"({start}", "+")
    return Counter(
        json.dumps(normalized(decode_event(EnrichedEvent, fields).model_dump(mode="json")))
        for _, fields in entries
    )


async def end_state(
    redis: RedisClient,
    events: tuple[list[ArticleEvent], list[ArticleEvent]],
    point: tuple[str, int] | None,
    same_process: bool = False,
) -> tuple[Counter[str], dict[str, Any]]:
    """Seed, then the batch (stopped at `point` and redelivered, when given)."""
    seeded, batch = events
    await redis.flushdb()
    await handle(redis, seeded)
    start = (await redis.xinfo_stream(ENRICHED_STREAM))["last-generated-id"].decode()
    deliveries = [Delivery(f"{n}-0", e) for n, e in enumerate(batch)]
    process = new_process(redis)
    if point is not None:
        failpoints.arm(point[0], after=point[1])
        with pytest.raises(failpoints.FailpointHit):
            await process.handle(deliveries)
        if not same_process:
            process = new_process(redis)  # the first was killed
    await process.handle(deliveries)
    return await stream_after(redis, start), await key_state(redis)


@pytest.fixture(scope="module")
async def without_fault(
    redis_url: str, events: tuple[list[ArticleEvent], list[ArticleEvent]]
) -> tuple[Counter[str], dict[str, Any]]:
    client = connect(redis_url, cluster=False)
    try:
        state = await end_state(client, events, None)
    finally:
        await client.aclose()
    appended, keys = state
    kinds = Counter(json.loads(e)["type"] for e in appended.elements())
    # The batch is worth walking: it refreshes older articles, updates and withdraws.
    assert kinds["article.related_refreshed"] > 0
    assert kinds["article.enriched"] == NEW + 1 and kinds["article.withdrawn"] == 1
    # The update and the withdrawal each refresh lists that linked to them.
    _, updated, withdrawn, *_ = events[1][NEW // 2 - 1 :]
    for changed in (updated, withdrawn):
        refreshed = [
            e
            for e in map(json.loads, appended.elements())
            if e["type"] == "article.related_refreshed" and e["source_event_id"] == changed.event_id
        ]
        assert refreshed, changed.article_id
    # Its reverse index is the links' own, inverted.
    assert linkers(keys) == links_inverted(keys)
    return state


def linkers(keys: dict[str, Any]) -> dict[str, list[bytes]]:
    """Who links to each article, as the reverse index says."""
    prefix = linkers_key("")
    return {k.removeprefix(prefix): v for k, v in keys.items() if k.startswith(prefix) and v}


def links_inverted(keys: dict[str, Any]) -> dict[str, list[bytes]]:
    """Who links to each article, as the kept links say."""
    prefix = links_key("")
    inverted: dict[str, set[bytes]] = {}
    for key, links in keys.items():
        if key.startswith(prefix):
            for link in links:
                inverted.setdefault(link["article_id"], set()).add(
                    key.removeprefix(prefix).encode()
                )
    return {target: sorted(owners) for target, owners in inverted.items()}


async def test_the_batch_leaves_the_same_without_a_fault_each_time(
    redis: RedisClient,
    events: tuple[list[ArticleEvent], list[ArticleEvent]],
    without_fault: tuple[Counter[str], dict[str, Any]],
) -> None:
    """What the walk compares with does not depend on the run (ids, clocks, revisions)."""
    assert await end_state(redis, events, None) == without_fault


@pytest.mark.parametrize("same_process", [False, True], ids=["killed", "same process"])
@pytest.mark.parametrize("point", POINTS, ids=[f"{n}@{a}" for n, a in POINTS])
async def test_a_batch_redelivered_after_a_stop_leaves_what_it_leaves_without_one(
    redis: RedisClient,
    events: tuple[list[ArticleEvent], list[ArticleEvent]],
    without_fault: tuple[Counter[str], dict[str, Any]],
    point: tuple[str, int],
    same_process: bool,
) -> None:
    appended, keys = await end_state(redis, events, point, same_process)
    expected_appended, expected_keys = without_fault
    # Named by type, article and version: an event repeated, missing or different.
    assert (named(appended - expected_appended), named(expected_appended - appended)) == ([], [])
    assert sorted(keys.keys() ^ expected_keys.keys()) == []
    assert [key for key in keys if keys[key] != expected_keys[key]] == []
    assert linkers(keys) == links_inverted(keys)


def named(events: Counter[str]) -> list[str]:
    return sorted(
        f"{e['type']} {e['article_id']} v{e['version']}" for e in map(json.loads, events.elements())
    )
