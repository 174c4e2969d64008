"""The indexer on real Redis and Meilisearch: batches, version guard, replica races, outages."""

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

import khabar_search.indexer  # noqa: F401 - declares the indexer's failpoints
from bench.relevance import load_corpus_articles
from bench.relevance import versioned_event as event
from khabar_dev.processes import ProcessGroup, free_port, start_meili
from khabar_search.alias_store import BY_ARTICLE_KEY, AliasStore
from khabar_search.alias_store import VERSIONS_KEY as ALIAS_VERSIONS_KEY
from khabar_search.aliases import Alias
from khabar_search.indexer import VERSIONS_KEY, Indexer
from khabar_search.meili import MeiliWriter
from khabar_search.synonyms import load_synonyms
from khabar_shared import failpoints
from khabar_shared.consumer import Delivery, StreamConsumer
from khabar_shared.events import Article, EnrichedEvent, encode_event
from khabar_shared.meili_setup import provision_keys
from khabar_shared.names import dead_letter_stream
from khabar_shared.redis_helpers import RedisClient, connect
from khabar_shared.settings import CommonSettings
from tests.conftest import Servers


def deliveries(*events: EnrichedEvent) -> list[Delivery[EnrichedEvent]]:
    return [Delivery(f"{n}-0", e) for n, e in enumerate(events, 1)]


async def posted(
    redis: RedisClient, stream: str, *events: EnrichedEvent
) -> list[Delivery[EnrichedEvent]]:
    """The events appended to `stream`, as its consumer receives them (their real entry ids)."""
    ids = [(await redis.xadd(stream, encode_event(e))).decode() for e in events]  # type: ignore[arg-type]
    return [Delivery(i, e) for i, e in zip(ids, events, strict=True)]


@pytest.fixture(scope="module")
def articles() -> list[Article]:
    return load_corpus_articles(120)


@pytest_asyncio.fixture
async def redis(servers: Servers) -> AsyncIterator[RedisClient]:
    client = connect(servers.redis_url)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def index(servers: Servers, redis: RedisClient) -> AsyncIterator[MeiliWriter]:
    """A fresh index and a fresh version guard for each test."""
    writer = MeiliWriter(
        servers.meili_url, servers.meili_keys.index_key, f"articles_idx_{secrets.token_hex(4)}"
    )
    await writer.ensure_index(load_synonyms())
    await redis.delete(VERSIONS_KEY)
    yield writer
    await writer.delete_index()


def meili_get(servers: Servers, path: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{servers.meili_url}{path}",
        params=params,
        timeout=10,
        headers={"Authorization": f"Bearer {servers.meili_keys.index_key}"},
    )


def document(servers: Servers, index: MeiliWriter, article_id: str) -> dict[str, Any] | None:
    answer = meili_get(servers, f"/indexes/{index.index_uid}/documents/{article_id}")
    return answer.json() if answer.status_code == 200 else None


async def test_many_events_become_one_task(
    servers: Servers, redis: RedisClient, index: MeiliWriter, articles: list[Article]
) -> None:
    events = [event(a, 1) for a in articles[:100]] + [event(a, 2) for a in articles[:50]]
    await Indexer(redis, index, 0).handle(deliveries(*events))

    tasks = meili_get(
        servers, "/tasks", indexUids=index.index_uid, types="documentAdditionOrUpdate"
    ).json()["results"]
    assert len(tasks) == 1 and tasks[0]["status"] == "succeeded"
    assert tasks[0]["details"]["receivedDocuments"] == 100
    assert await index.document_count() == 100
    assert document(servers, index, articles[0].id)["version"] == 2
    assert document(servers, index, articles[99].id)["version"] == 1


async def test_older_never_overwrites_newer_and_withdrawal_stays(
    servers: Servers, redis: RedisClient, index: MeiliWriter, articles: list[Article]
) -> None:
    indexer = Indexer(redis, index, 0)
    first, second = articles[0], articles[1]
    await indexer.handle(deliveries(event(first, 3)))
    await indexer.handle(deliveries(event(first, 2)))
    assert document(servers, index, first.id)["version"] == 3

    await indexer.handle(deliveries(event(second, 1)))
    await indexer.handle(deliveries(event(second, 2, withdrawn=True)))
    await indexer.handle(deliveries(event(second, 1)))  # a late duplicate of the old version
    assert document(servers, index, second.id) is None

    await indexer.handle(deliveries(event(first, 3)))  # redelivery of the same version is fine
    assert document(servers, index, first.id)["version"] == 3


class GatedWriter:
    """A writer that holds its apply until the test opens the gate: a slow replica."""

    def __init__(self, inner: MeiliWriter) -> None:
        self.inner = inner
        self.gate = asyncio.Event()

    async def apply(self, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
        await self.gate.wait()
        await self.inner.apply(upserts, deletes)


async def test_replica_race_ends_on_the_newest_version(
    servers: Servers, redis: RedisClient, index: MeiliWriter, articles: list[Article]
) -> None:
    """A claims v2, B claims and applies v3, then A's v2 task lands last: A must repair it
    (from v3's event on the stream)."""
    article = articles[2]
    stream = f"test:enriched:{secrets.token_hex(3)}"
    slow = GatedWriter(index)
    replica_a = Indexer(redis, slow, 0, stream=stream)  # type: ignore[arg-type]
    replica_b = Indexer(redis, index, 0, stream=stream)
    v2, v3 = await posted(redis, stream, event(article, 2), event(article, 3))

    a_done = asyncio.create_task(replica_a.handle([v2]))
    while await redis.hget(VERSIONS_KEY, article.id) != b"2":
        await asyncio.sleep(0.01)
    await replica_b.handle([v3])
    assert document(servers, index, article.id)["version"] == 3

    slow.gate.set()
    await a_done
    final = document(servers, index, article.id)
    assert final["version"] == 3 and final["headline"].endswith("(v3)")
    await redis.delete(stream)


async def test_the_log_redis_holds_no_copies_of_documents_after_indexing(
    redis: RedisClient, index: MeiliWriter, articles: list[Article]
) -> None:
    """The version guard keeps versions and where each claimed event is, never a document: a
    copy with an expiry is a cache, and caches do not belong in the log's Redis."""
    for key in await redis.keys("khabar:{search}:*"):
        await redis.delete(key)
    stream = f"test:enriched:{secrets.token_hex(3)}"
    indexer = Indexer(redis, index, 0, stream=stream)
    events = [event(a, 1) for a in articles[20:40]] + [event(articles[20], 2, withdrawn=True)]
    await indexer.handle(await posted(redis, stream, *events))
    assert await index.document_count() == 19
    written = sorted(k.decode() for k in await redis.keys("khabar:{search}:*"))
    assert [k for k in written if await redis.ttl(k) != -1] == []
    assert len(written) <= 2  # the versions and their entries: one hash each, not one per article
    await redis.delete(stream)


@pytest.fixture
def own_meili(tmp_path: Path) -> Iterator[tuple[ProcessGroup, Path, int, str]]:
    """A Meilisearch this test may stop and start again on the same data dir."""
    group = ProcessGroup()
    port, master = free_port(), secrets.token_hex(16)
    start_meili(group, tmp_path / "meili", port, master)
    try:
        yield group, tmp_path / "meili", port, master
    finally:
        group.stop_all()


async def test_meilisearch_down_nothing_acked_until_it_is_back(
    servers: Servers,
    redis: RedisClient,
    articles: list[Article],
    own_meili: tuple[ProcessGroup, Path, int, str],
) -> None:
    group, data_dir, port, master = own_meili
    url = f"http://127.0.0.1:{port}"
    keys = provision_keys(url, master)
    writer = MeiliWriter(url, keys.index_key, f"articles_down_{secrets.token_hex(3)}")
    await writer.ensure_index(load_synonyms())
    await redis.delete(VERSIONS_KEY)

    stream, group_name = f"test:search:{secrets.token_hex(3)}", "search"
    await redis.xgroup_create(stream, group_name, id="0", mkstream=True)
    for item in articles[10:15]:
        await redis.xadd(stream, encode_event(event(item, 1)))
    [[_, entries]] = await redis.xreadgroup(group_name, "c1", {stream: ">"}, count=10)
    consumer = StreamConsumer(
        stream=stream,
        group=group_name,
        event_model=EnrichedEvent,
        handle=Indexer(redis, writer, 0).handle,
        redis=redis,
        settings=CommonSettings(),
    )

    group.stop_all()  # Meilisearch goes down
    processing = asyncio.create_task(
        consumer.process([(i.decode(), fields) for i, fields in entries])
    )
    await asyncio.sleep(1.5)  # several retries happen meanwhile (not a timing assertion)
    assert not processing.done()
    assert (await redis.xpending(stream, group_name))["pending"] == 5

    start_meili(group, data_dir, port, master)  # back, same data
    await asyncio.wait_for(processing, timeout=60)
    assert (await redis.xpending(stream, group_name))["pending"] == 0
    assert await writer.document_count() == 5
    await redis.delete(stream)


@pytest.mark.parametrize("prefix_search", [False, True])
async def test_a_half_typed_word_matches_only_with_prefix_search(
    servers: Servers, redis: RedisClient, articles: list[Article], prefix_search: bool
) -> None:
    """`KHABAR_PREFIX_SEARCH` decides whether the last word of a query may be a prefix."""
    writer = MeiliWriter(
        servers.meili_url,
        servers.meili_keys.index_key,
        f"articles_prefix_{secrets.token_hex(4)}",
        prefix_search,
    )
    await writer.ensure_index(load_synonyms())
    try:
        article = articles[0]
        # A plain word (no ال, no punctuation) whose 4-letter start is too
        # short for typo tolerance to reach it: only a prefix match can.
        word = next(
            w
            for w in article.headline.split()
            if w.isalpha() and len(w) >= 6 and not w.startswith("ال")
        )
        await Indexer(redis, writer, 0).handle(deliveries(event(article, 1)))
        settings = meili_get(servers, f"/indexes/{writer.index_uid}/settings").json()
        assert settings["prefixSearch"] == ("indexingTime" if prefix_search else "disabled")
        assert settings["facetSearch"] is False
        assert settings["proximityPrecision"] == "byAttribute"

        def ids(q: str) -> list[str]:
            answer = httpx.post(
                f"{servers.meili_url}/indexes/{writer.index_uid}/search",
                json={"q": q, "attributesToSearchOn": ["headline"]},
                timeout=10,
                headers={"Authorization": f"Bearer {servers.meili_keys.search_key}"},
            )
            return [hit["id"] for hit in answer.json()["hits"]]

        assert ids(word) == [article.id]
        assert ids(word[:4]) == ([article.id] if prefix_search else [])
    finally:
        await writer.delete_index()


@pytest.mark.parametrize("point", failpoints.declared("search."))
async def test_stopped_between_any_two_writes_then_redelivered_the_index_is_current(
    servers: Servers, redis: RedisClient, index: MeiliWriter, articles: list[Article], point: str
) -> None:
    """The indexer stopped at each of its failpoints, then the batch again: as if never stopped.

    (This held before failpoints existed: the version guard lets an equal
    version through again. The test keeps it so for every write added later.)
    """
    store = AliasStore(redis)
    await redis.delete(BY_ARTICLE_KEY, ALIAS_VERSIONS_KEY)  # a fresh alias record: both halves
    indexer = Indexer(redis, index, 0, store)  # as the app wires it
    kept, killed, moved = articles[:3]
    killed_v1 = event(glossing(killed, "شركة نايكي (Nike)"), 1)
    await indexer.handle(deliveries(event(kept, 1), killed_v1, event(moved, 1)))
    moved_v2 = event(glossing(moved, "شركة أديداس (Adidas)"), 2)
    batch = deliveries(event(killed, 2, withdrawn=True), moved_v2)
    failpoints.arm(point)
    try:
        with pytest.raises(failpoints.FailpointHit):
            await indexer.handle(batch)
    finally:
        failpoints.disarm_all()
    await indexer.handle(batch)
    assert document(servers, index, killed.id) is None
    assert document(servers, index, moved.id)["version"] == 2
    assert document(servers, index, kept.id)["version"] == 1
    learned = await store.learned()
    assert [(a.latin, a.sources) for a in learned] == [("adidas", [moved.id])]


class FlakyMeili:
    """A real HTTP hop in front of Meilisearch that answers 503 while `down` is set."""

    def __init__(self, upstream: str) -> None:
        self.down = threading.Event()
        self.refused = 0
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if flaky.down.is_set():
                    flaky.refused += 1
                    status, headers = 503, {"Content-Type": "application/json"}
                    content = (
                        b'{"message":"overloaded","code":"internal","type":"internal","link":""}'
                    )
                else:
                    answer = httpx.request(
                        self.command,
                        upstream + self.path,
                        content=body,
                        headers={
                            k: v
                            for k, v in self.headers.items()
                            if k.lower() not in ("host", "content-length")
                        },
                    )
                    status, headers, content = answer.status_code, answer.headers, answer.content
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


async def test_meilisearch_answering_5xx_is_waited_out_and_never_counted(
    servers: Servers, redis: RedisClient, articles: list[Article]
) -> None:
    """503s for a while (past the indexer's own retry budget): nothing failed, nothing dead."""
    flaky = FlakyMeili(servers.meili_url)
    writer = MeiliWriter(
        flaky.url, servers.meili_keys.index_key, f"articles_5xx_{secrets.token_hex(3)}"
    )
    await writer.ensure_index(load_synonyms())
    await redis.delete(VERSIONS_KEY)
    stream, group_name = f"test:search:{secrets.token_hex(3)}", "search"
    await redis.xgroup_create(stream, group_name, id="0", mkstream=True)
    for item in articles[20:25]:
        await redis.xadd(stream, encode_event(event(item, 1)))
    [[_, entries]] = await redis.xreadgroup(group_name, "c1", {stream: ">"}, count=10)
    settings = CommonSettings(max_deliveries=1, outage_backoff_min_s=0.1, outage_backoff_max_s=0.2)
    consumer = StreamConsumer(
        stream=stream,
        group=group_name,
        event_model=EnrichedEvent,
        handle=Indexer(redis, writer, 0.3).handle,
        redis=redis,
        settings=settings,
    )
    try:
        flaky.down.set()
        processing = asyncio.create_task(
            consumer.process([(i.decode(), fields) for i, fields in entries])
        )
        # Past the indexer's 0.3 s of retries: the consumer's own wait takes over.
        for _ in range(600):
            if flaky.refused >= 10 or processing.done():
                break
            await asyncio.sleep(0.1)
        assert not processing.done(), "the batch ended while Meilisearch answered 503"
        assert not await redis.hlen(consumer.errors_key)  # no failure counted
        flaky.down.clear()
        await asyncio.wait_for(processing, timeout=60)
        assert (await redis.xpending(stream, group_name))["pending"] == 0
        assert await redis.xlen(dead_letter_stream(stream)) == 0
        assert await writer.document_count() == 5
    finally:
        flaky.down.clear()
        await redis.delete(stream)
        await writer.delete_index()
        flaky.server.shutdown()


def glossing(article: Article, gloss: str) -> Article:
    """`article` with a Latin name glossed in its lead, as Arabic news writes it."""
    return article.model_copy(update={"lead": f"{article.lead} {gloss}"})


async def test_replica_race_leaves_the_newest_versions_aliases(
    redis: RedisClient, index: MeiliWriter, articles: list[Article]
) -> None:
    """A applies v2 (glossing Nike) slowly; B applies v3 (glossing Adidas) meanwhile.

    The alias record is the indexer's second write: it must follow the version
    the index ends on, not the version the slow replica was handed.
    """
    store = AliasStore(redis)
    await redis.delete(BY_ARTICLE_KEY, ALIAS_VERSIONS_KEY)  # a fresh alias record: both halves
    article = articles[3]
    v2 = event(glossing(article, "وأعلنت شركة نايكي (Nike) ذلك."), 2)
    v3 = event(glossing(article, "وأعلنت شركة أديداس (Adidas) ذلك."), 3)
    stream = f"test:enriched:{secrets.token_hex(3)}"
    slow = GatedWriter(index)
    replica_a = Indexer(redis, slow, 0, store, stream=stream)  # type: ignore[arg-type]
    replica_b = Indexer(redis, index, 0, store, stream=stream)

    a_done = asyncio.create_task(replica_a.handle(await posted(redis, stream, v2)))
    while await redis.hget(VERSIONS_KEY, article.id) != b"2":
        await asyncio.sleep(0.01)
    await replica_b.handle(await posted(redis, stream, v3))
    slow.gate.set()
    await a_done
    await redis.delete(stream)

    learned = {(a.latin, a.arabic) for a in await store.learned()}
    assert learned == {("adidas", "اديداس")}


async def test_a_late_older_version_never_overwrites_newer_aliases(
    redis: RedisClient, articles: list[Article]
) -> None:
    """Recorded out of order (a replica's stale batch after the newest), the newest stays."""
    store = AliasStore(redis)
    await redis.delete(BY_ARTICLE_KEY, ALIAS_VERSIONS_KEY)  # a fresh alias record: both halves
    article_id = articles[4].id
    await store.record({article_id: (3, [Alias(latin="adidas", arabic="اديداس")])})
    await store.record({article_id: (2, [Alias(latin="nike", arabic="نايكي")])})
    assert [(a.latin, a.count) for a in await store.learned()] == [("adidas", 1)]

    await store.record({article_id: (4, [])})  # withdrawn
    await store.record({article_id: (3, [Alias(latin="adidas", arabic="اديداس")])})
    assert await store.learned() == []


async def test_a_second_node_does_not_mine_again_the_aliases_the_first_recorded(
    redis: RedisClient, index: MeiliWriter, articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every node indexes every article; aliases are mined by one node (node 1), once
    per version, whichever node indexes the version first."""
    from khabar_search import indexer as indexer_module
    from khabar_search.nodes import SearchNode

    store = AliasStore(redis)
    await redis.delete(BY_ARTICLE_KEY, ALIAS_VERSIONS_KEY)  # a fresh alias record: both halves
    article = articles[5]
    await redis.hdel(ALIAS_VERSIONS_KEY, article.id)
    mined: list[str] = []
    real_aliases_of = indexer_module.aliases_of

    def counted(change: indexer_module.Change) -> list[Alias]:
        mined.append(f"{change.article_id}@{change.version}")
        return real_aliases_of(change)

    monkeypatch.setattr(indexer_module, "aliases_of", counted)
    stream = f"test:enriched:{secrets.token_hex(3)}"
    node_2 = SearchNode(f"t{secrets.token_hex(3)}")
    first = Indexer(redis, index, 0, store, stream=stream)
    second = Indexer(redis, index, 0, store, node=node_2, stream=stream)
    try:
        v1 = await posted(redis, stream, event(glossing(article, "شركة نايكي (Nike)."), 1))
        await first.handle(v1)
        await second.handle(v1)
        assert mined == [f"{article.id}@1"]
        assert {(a.latin, a.arabic) for a in await store.learned()} == {("nike", "نايكي")}
        v2 = await posted(redis, stream, event(glossing(article, "شركة أديداس (Adidas)."), 2))
        await second.handle(v2)  # first to index v2, and still not the miner
        assert mined == [f"{article.id}@1"]
        await first.handle(v2)
        assert mined == [f"{article.id}@1", f"{article.id}@2"]
        assert {(a.latin, a.arabic) for a in await store.learned()} == {("adidas", "اديداس")}
    finally:
        await redis.delete(stream, node_2.versions_key, node_2.entries_key)


class CountingProxy:
    """A TCP proxy in front of Meilisearch that counts the connections opened through it."""

    def __init__(self, target_url: str) -> None:
        host, _, port = target_url.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.connections = 0
        self.answers = bytearray()  # everything Meilisearch sent back
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, seen: bytearray | None
        ) -> None:
            try:
                while data := await source.read(65536):
                    if seen is not None:
                        seen += data
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, None), pipe(up_reader, writer, self.answers))

    async def aclose(self) -> None:
        assert self.server is not None
        self.server.close()


async def test_batches_reuse_one_connection_to_meilisearch(
    servers: Servers, redis: RedisClient, index: MeiliWriter, articles: list[Article]
) -> None:
    """Each batch's documents and its task's state go over the connection the last one used:
    a connection opened per call (the official client's way) cost search and Meilisearch
    more CPU per article than the article itself at a steady trickle (bench.pipeline). The
    answers come uncompressed: a task's state is a few hundred bytes."""
    proxy = CountingProxy(servers.meili_url)
    await proxy.start()
    writer = MeiliWriter(proxy.url, servers.meili_keys.index_key, index.index_uid)
    indexer = Indexer(redis, writer, 0)
    try:
        for n, article in enumerate(articles[30:35], 1):
            await indexer.handle(deliveries(event(article, 1)))
            await indexer.handle(deliveries(event(article, 2, withdrawn=n % 2 == 0)))
        assert await index.document_count() == 3
        assert proxy.connections == 1
        assert b"content-encoding: gzip" not in bytes(proxy.answers).lower()
    finally:
        await writer.aclose()
        await proxy.aclose()
