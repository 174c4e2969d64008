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
from faststream.redis import RedisBroker

import khabar_search.indexer  # noqa: F401 - declares the indexer's failpoints
from bench.relevance import load_corpus_articles
from bench.relevance import versioned_event as event
from khabar_dev.processes import ProcessGroup, free_port, start_meili
from khabar_search.alias_store import BY_ARTICLE_KEY, AliasStore
from khabar_search.alias_store import VERSIONS_KEY as ALIAS_VERSIONS_KEY
from khabar_search.aliases import Alias
from khabar_search.indexer import VERSIONS_KEY, Indexer, decode_for_index
from khabar_search.meili import MeiliWriter
from khabar_search.synonyms import load_synonyms
from khabar_shared import failpoints
from khabar_shared.consumer import Delivery, StartHandler, StreamConsumer
from khabar_shared.events import Article, EnrichedEvent, encode_event
from khabar_shared.meili_setup import provision_keys
from khabar_shared.names import dead_letter_stream
from khabar_shared.redis_helpers import RedisClient, connect, ensure_group
from khabar_shared.settings import CommonSettings
from tests import support
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

    async def enqueue(self, upserts: list[dict[str, Any]], deletes: list[str]) -> list[int]:
        await self.gate.wait()
        return await self.inner.enqueue(upserts, deletes)

    async def wait_all(self, task_uids: list[int]) -> None:
        await self.inner.wait_all(task_uids)


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


class GatedMeili:
    """A real HTTP hop in front of Meilisearch that holds every task-state answer while
    `held` is set, and notes each batch of documents sent (the tasks' uids, in order)."""

    def __init__(self, upstream: str) -> None:
        self.held = threading.Event()
        self.released = threading.Event()
        self.enqueued: list[int] = []
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "GET" and self.path.startswith("/tasks/") and gate.held.is_set():
                    gate.released.wait(timeout=60)
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
                if self.command == "POST" and "/documents" in self.path:
                    gate.enqueued.append(int(answer.json()["taskUid"]))
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def hold(self) -> None:
        self.released.clear()
        self.held.set()

    def release(self) -> None:
        self.held.clear()
        self.released.set()


async def until(probe: Any) -> Any:
    """The pipelined indexer's waits: `support.until` with a longer bound (a gated task)."""
    return await support.until(probe, timeout_s=30.0)


@pytest_asyncio.fixture
async def gated(
    servers: Servers, redis: RedisClient
) -> AsyncIterator[tuple[GatedMeili, MeiliWriter]]:
    """A fresh index written through a `GatedMeili`, and a fresh version guard."""
    gate = GatedMeili(servers.meili_url)
    writer = MeiliWriter(
        gate.url, servers.meili_keys.index_key, f"articles_gate_{secrets.token_hex(3)}"
    )
    await writer.ensure_index(load_synonyms())
    await redis.delete(VERSIONS_KEY)
    try:
        yield gate, writer
    finally:
        gate.release()
        await writer.delete_index()
        await writer.aclose()
        gate.server.shutdown()


async def pipelined(
    servers: Servers,
    redis: RedisClient,
    writer: MeiliWriter,
    stream: str,
    name: str,
    send_ahead: bool = True,
    start: StartHandler[EnrichedEvent] | None = None,
) -> tuple[StreamConsumer[EnrichedEvent], RedisBroker]:
    """A running consumer of `stream` that hands batches to the indexer in two steps."""
    indexer = Indexer(redis, writer, 0, stream=stream, send_ahead=send_ahead)
    settings = CommonSettings(
        consumer_name=name, batch_size=10, claim_idle_ms=500, max_deliveries=3
    )
    consumer = StreamConsumer(
        stream=stream,
        group="search",
        event_model=EnrichedEvent,
        handle=indexer.handle,
        redis=redis,
        settings=settings,
        start=start or indexer.start,
        pipeline_depth=4,
        decode=decode_for_index,
    )
    await ensure_group(redis, stream, "search")
    broker = RedisBroker(servers.redis_url)
    consumer.register(broker)
    await broker.start()
    return consumer, broker


async def pending(redis: RedisClient, stream: str) -> int:
    return int((await redis.xpending(stream, "search"))["pending"])


async def drained(redis: RedisClient, stream: str) -> bool:
    return await pending(redis, stream) == 0


async def sent(gate: GatedMeili, count: int) -> bool:
    return len(gate.enqueued) >= count


async def test_the_next_batch_is_sent_while_one_indexes_and_each_is_acked_after_its_task(
    servers: Servers,
    redis: RedisClient,
    articles: list[Article],
    gated: tuple[GatedMeili, MeiliWriter],
) -> None:
    gate, writer = gated
    stream = f"test:search:{secrets.token_hex(3)}"
    _, broker = await pipelined(servers, redis, writer, stream, "c1")
    try:
        gate.hold()  # no task is known to be done until released
        await posted(redis, stream, *[event(a, 1) for a in articles[30:33]])
        await until(lambda: sent(gate, 1))
        await posted(redis, stream, *[event(a, 1) for a in articles[33:35]])
        # Sent while the first batch's task is still not known to be done:
        await until(lambda: sent(gate, 2))
        assert await pending(redis, stream) == 5  # nothing acked before its own task is done

        gate.release()
        await until(lambda: drained(redis, stream))
        assert await writer.document_count() == 5
    finally:
        await broker.stop()
        await redis.delete(stream)


def unindexable(article: Article, version: int) -> EnrichedEvent:
    """An event whose document Meilisearch refuses when it runs the task (a bad id)."""
    bad = article.model_copy(update={"id": f"{article.id} refused!"})
    return event(bad, version)


async def test_a_failed_task_of_one_batch_while_the_next_succeeded_keeps_the_newer_version(
    servers: Servers,
    redis: RedisClient,
    articles: list[Article],
    gated: tuple[GatedMeili, MeiliWriter],
) -> None:
    """Batch 1 (X v2 and a document Meilisearch refuses) is still in flight when batch 2
    (X withdrawn, v3) is sent; batch 1's task fails. Batch 2 is acked on its own; batch 1
    is split, its X v2 retried after the withdrawal and refused by the guard, and only the
    refused event stays pending, with its error."""
    gate, writer = gated
    stream = f"test:search:{secrets.token_hex(3)}"
    x, kept, withdrawn_meanwhile = articles[40], articles[41], articles[42]
    indexer = Indexer(redis, writer, 0, stream=stream)
    await indexer.handle(await posted(redis, stream, event(x, 1), event(withdrawn_meanwhile, 1)))
    consumer, broker = await pipelined(servers, redis, writer, stream, "c1")
    try:
        gate.hold()
        first = await posted(
            redis, stream, event(x, 2), unindexable(articles[43], 1), event(kept, 1)
        )
        await until(lambda: sent(gate, 1))
        await posted(
            redis,
            stream,
            event(x, 3, withdrawn=True),
            event(withdrawn_meanwhile, 2, withdrawn=True),
        )
        await until(lambda: sent(gate, 2))
        gate.release()

        async def only_the_refused_left() -> bool:
            left = await redis.xpending_range(stream, "search", min="-", max="+", count=10)
            return [p["message_id"].decode() for p in left] == [first[1].message_id]

        await until(only_the_refused_left)
        await until(lambda: redis.hexists(consumer.errors_key, first[1].message_id))
        assert document(servers, writer, x.id) is None
        assert document(servers, writer, withdrawn_meanwhile.id) is None
        assert document(servers, writer, kept.id)["version"] == 1
    finally:
        await broker.stop()
        await redis.delete(stream)


async def test_stopped_with_two_batches_sent_and_none_acked_redelivery_repairs(
    servers: Servers,
    redis: RedisClient,
    articles: list[Article],
    gated: tuple[GatedMeili, MeiliWriter],
) -> None:
    """A consumer dies with two batches sent to Meilisearch and neither acked: both stay
    pending, and the consumer that claims them leaves the newest version of each article."""
    gate, writer = gated
    stream = f"test:search:{secrets.token_hex(3)}"
    x, y = articles[50], articles[51]
    consumer, broker = await pipelined(servers, redis, writer, stream, "dies")
    gate.hold()
    await posted(redis, stream, event(x, 1), event(y, 1))
    await until(lambda: sent(gate, 1))
    await posted(redis, stream, event(x, 2))
    await until(lambda: sent(gate, 2))
    # The process dies: its batches stop wherever they are, nothing more is written.
    for task in list(consumer._in_flight):
        task.cancel()
    await asyncio.gather(*consumer._in_flight, return_exceptions=True)
    await broker.stop()
    gate.release()
    assert await pending(redis, stream) == 3

    heir, heir_broker = await pipelined(servers, redis, writer, stream, "heir")
    try:
        await until(lambda: drained(redis, stream))
        assert document(servers, writer, x.id)["version"] == 2
        assert document(servers, writer, y.id)["version"] == 1
        assert not await redis.hlen(heir.errors_key)
    finally:
        await heir_broker.stop()
        await redis.delete(stream)


async def test_the_next_batch_is_indexed_while_the_last_is_still_being_settled(
    servers: Servers,
    redis: RedisClient,
    articles: list[Article],
    gated: tuple[GatedMeili, MeiliWriter],
) -> None:
    """Without sending ahead, a batch's task is done before the next batch is read; the next
    is then read and indexed while the last's guard re-read, alias records and ack are still
    to come (held here), and each batch is acked after its own."""
    _, writer = gated
    stream = f"test:search:{secrets.token_hex(3)}"
    indexer = Indexer(redis, writer, 0, stream=stream)
    settling, finishing = asyncio.Event(), []

    async def start(deliveries: list[Delivery[EnrichedEvent]]) -> Any:
        finish = await indexer.start(deliveries)

        async def held() -> None:
            finishing.append(len(deliveries))
            if len(finishing) == 1:
                await settling.wait()
            await finish()

        return held

    async def visible(article: Article) -> bool:
        return document(servers, writer, article.id) is not None

    async def started(count: int) -> bool:
        return len(finishing) >= count

    _, broker = await pipelined(servers, redis, writer, stream, "c1", send_ahead=False, start=start)
    try:
        await posted(redis, stream, *[event(a, 1) for a in articles[60:62]])
        await until(lambda: started(1))
        assert await visible(articles[60])  # its task was done before its rest began
        await posted(redis, stream, event(articles[62], 1))
        await until(lambda: visible(articles[62]))
        await until(lambda: started(2))
        # The later batches acked, the first held (the two first events may have been read
        # as one batch or as two: `posted` appends them one at a time).
        await until(lambda: pending_is(redis, stream, finishing[0]))
        settling.set()
        await until(lambda: drained(redis, stream))
    finally:
        settling.set()
        await broker.stop()
        await redis.delete(stream)


async def pending_is(redis: RedisClient, stream: str, count: int) -> bool:
    return await pending(redis, stream) == count


async def test_a_refresh_of_related_links_is_acked_without_its_article_being_read(
    servers: Servers, redis: RedisClient, index: MeiliWriter, articles: list[Article]
) -> None:
    """Search skips refreshes (they change nothing readers search), so it does not read their
    article either: most entries at a steady trickle are refreshes, and validating their JSON
    was most of search's per-event work. Here the refresh's article is cut short: it is
    acked with the article's event, noted applied, and nothing goes to dead letters."""
    stream = f"test:search:{secrets.token_hex(3)}"
    article = articles[70]
    enriched = event(article, 1)
    refresh = enriched.model_copy(
        update={"type": "article.related_refreshed", "event_id": f"{enriched.event_id}-r"}
    )
    entry = encode_event(refresh)
    entry["data"] = bytes(entry["data"])[:40]  # no article to read
    _, broker = await pipelined(servers, redis, index, stream, "c1", send_ahead=False)
    try:
        await posted(redis, stream, enriched)
        await redis.xadd(stream, entry)  # type: ignore[arg-type]
        await until(lambda: drained(redis, stream))
        assert document(servers, index, article.id) is not None
        assert await redis.xlen(dead_letter_stream(stream)) == 0
        info = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        assert info[b"search"]["entries-read"] == 2
    finally:
        await broker.stop()
        await redis.delete(stream, dead_letter_stream(stream))
