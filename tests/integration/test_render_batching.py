"""Render's batched path in process, on a real Redis: few round trips, and never stale.

A batch of events is applied in one transaction and its fragments rendered
from one read; what the consumer leaves to the warm lane is purged before the
batch is acked, so a reader who asks first gets a fresh render, and the lane
renders it once however many batches purged it.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.asyncio.connection as redis_connection
import structlog

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_render import fragments
from khabar_render.fragments import category_of
from khabar_render.handler import FragmentUpdater
from khabar_render.purge import PurgeNotifier
from khabar_render.renderer import Renderer
from khabar_render.site import default_site
from khabar_render.store import (
    ArticleStore,
    FragmentCache,
    StoredArticle,
    StoredFragment,
    Withdrawal,
    article_key,
)
from khabar_render.warm import WarmLane
from khabar_shared.consumer import Delivery, logging_context
from khabar_shared.events import EnrichedArticle, EnrichedEvent
from tests.integration.test_render_service import enriched, in_section, see_also_ids

SITE = default_site()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, Path(tmp_path_factory.mktemp("batching-redis")), free_port())
    finally:
        group.stop_all()


class Render:
    """Render's parts wired as the app wires them, on one Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        warm: bool,
        coalesce_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        edge_assembles_pages: bool = False,
        cache_redis: aioredis.Redis | None = None,
    ) -> None:
        self.redis = redis
        self.articles = ArticleStore(redis, lambda e: SITE.section(category_of(e)).slug)
        # Another client: the cache as a Redis of its own (here the same server), as the app
        # wires it when the two URLs differ.
        self.cache = FragmentCache(cache_redis or redis, shares_log=cache_redis is None)
        self.renderer = Renderer(self.articles, self.cache, SITE, 10, 4)
        self.warm = (
            WarmLane(self.renderer, chunk=64, pause_s=0, coalesce_s=coalesce_s, clock=clock)
            if warm
            else None
        )
        self.updater = FragmentUpdater(
            self.articles,
            self.cache,
            self.renderer,
            PurgeNotifier(""),
            10,
            eager_limit=64,
            warm=self.warm,
            edge_assembles_pages=edge_assembles_pages,
        )

    async def publish(self, *articles: EnrichedArticle, kind: str = "article.enriched") -> None:
        await self.updater.handle(
            [Delivery(f"{n}-0", event(a, kind)) for n, a in enumerate(articles)]
        )

    async def warm_all(self) -> int:
        assert self.warm is not None
        rendered = 0
        while self.warm.pending:
            rendered += await self.warm.render_chunk()
        return rendered


def event(article: EnrichedArticle, kind: str = "article.enriched") -> EnrichedEvent:
    return EnrichedEvent(
        event_id=str(uuid.uuid4()),
        type=kind,  # type: ignore[arg-type]
        article_id=article.article.id,
        version=article.version,
        correlation_id=str(uuid.uuid4()),
        source_event_id=str(uuid.uuid4()),
        enriched=article,
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def render(redis: aioredis.Redis) -> Render:
    return Render(redis, warm=True)


class RoundTrips:
    """Counts what the client sends to Redis: one count per round trip."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        send = redis_connection.AbstractConnection.send_packed_command

        async def counting(connection: object, command: object, check_health: bool = True) -> None:
            self.count += 1
            await send(connection, command, check_health)  # type: ignore[arg-type]

        monkeypatch.setattr(redis_connection.AbstractConnection, "send_packed_command", counting)


async def test_a_batch_costs_a_few_round_trips_not_a_few_per_article(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, *stories = in_section("sport", 31)
    await render.publish(enriched(first))  # connections open, script loaded
    trips = RoundTrips(monkeypatch)
    await render.publish(*(enriched(s, related=[o.id for o in stories[:8]]) for s in stories))
    # Apply (3), sizes and dependents (2), purge (1), render own fragments (read 2,
    # record 1, store 1, check 1): about a dozen for the batch, not ~36 an article.
    assert trips.count <= 15
    fragment = await render.cache.get(f"page:{stories[-1].id}")
    assert fragment is not None and stories[-1].headline in fragment.html


async def test_with_an_edge_the_whole_page_is_left_cold_until_asked(
    redis: aioredis.Redis,
) -> None:
    """The edge assembles the shell: `page:<id>` is purged, not rendered, until one asks."""
    render = Render(redis, warm=True, edge_assembles_pages=True)
    a, b, c = in_section("culture", 3)
    await render.publish(enriched(b), enriched(c), enriched(a, related=[b.id]))
    await render.warm_all()
    for kind in ("article", "related", "card", "shell"):
        assert await render.cache.get(f"{kind}:{a.id}") is not None, kind
    assert await render.cache.get(f"page:{a.id}") is None
    page = await render.renderer.fetch(f"page:{a.id}")  # a reader who bypasses the edge
    assert page is not None and see_also_ids(page.html) == [b.id]
    assert await render.cache.get(f"page:{a.id}") is not None

    await render.publish(enriched(a, related=[c.id, b.id]), kind="article.related_refreshed")
    await render.warm_all()
    assert await render.cache.get(f"page:{a.id}") is None  # purged, left cold
    assert see_also_ids((await render.cache.get(f"article:{a.id}")).html) == [c.id, b.id]  # type: ignore[union-attr]
    page = await render.renderer.fetch(f"page:{a.id}")
    assert page is not None and see_also_ids(page.html) == [c.id, b.id]

    await render.publish(enriched(a, version=2, related=[c.id, b.id]))
    await render.warm_all()
    assert await render.cache.get(f"page:{a.id}") is None
    assert await render.cache.get(f"shell:{a.id}") is not None


async def test_relinked_fragments_are_purged_before_the_ack_and_show_the_new_links(
    render: Render,
) -> None:
    a, b, c = in_section("culture", 3)
    await render.publish(enriched(b), enriched(c), enriched(a, related=[b.id]))
    assert see_also_ids((await render.cache.get(f"page:{a.id}")).html) == [b.id]  # type: ignore[union-attr]

    await render.publish(enriched(a, related=[c.id, b.id]), kind="article.related_refreshed")

    # Left to the warm lane, but never stale meanwhile: gone from the cache, and a
    # reader who asks first gets the new links rendered on demand.
    assert await render.cache.get(f"page:{a.id}") is None
    assert f"page:{a.id}" in render.warm._pending  # type: ignore[union-attr]
    on_read = await render.renderer.fetch(f"article:{a.id}")
    assert on_read is not None and see_also_ids(on_read.html) == [c.id, b.id]
    await render.warm_all()
    warmed = await render.cache.get(f"page:{a.id}")
    assert warmed is not None and see_also_ids(warmed.html) == [c.id, b.id]


async def test_the_warm_lane_renders_home_once_for_many_batches(render: Render) -> None:
    stories = in_section("economy", 5)
    for story in stories:
        await render.publish(enriched(story))
        assert await render.cache.get("home") is None  # purged by every batch
    # home, home-page, home-esi, and section:, section-page:, section-esi: economy:1
    assert await render.warm_all() == 6
    home = await render.cache.get("home")
    assert home is not None and stories[-1].headline in home.html


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_home_and_first_listing_pages_wait_out_the_window_then_render_once(
    redis: aioredis.Redis,
) -> None:
    """At a steady trickle each one-article batch purges home and its listings: held for the
    window, six batches cost one render of each, and other work is not held with them."""
    clock = Clock()
    render = Render(redis, warm=True, coalesce_s=2.0, clock=clock)
    assert render.warm is not None
    *stories, b = in_section("economy", 6)
    await render.publish(enriched(b))
    for story in stories:
        await render.publish(enriched(story))
        clock.now += 0.25
    assert render.warm.pending == 6  # home, home-page, home-esi; economy's three first pages
    assert await render.warm.render_chunk() == 0  # not due: 1.25 s since the first purge
    assert await render.cache.get("home") is None and await render.cache.get("home-page") is None
    render.warm.add([f"page:{b.id}"])  # other work goes on meanwhile
    assert await render.warm.render_chunk() == 1

    clock.now += 0.75
    assert await render.warm.render_chunk() == 6
    home = await render.cache.get("home")
    assert home is not None and stories[-1].headline in home.html
    # The next batch starts a new window.
    await render.publish(enriched(b, version=2, headline="عنوان الساعة"))
    assert await render.warm.render_chunk() == 0
    clock.now += 2.0
    assert await render.warm.render_chunk() == 6


async def test_without_a_warm_lane_the_batch_renders_home_and_dependents_itself(
    redis: aioredis.Redis,
) -> None:
    render = Render(redis, warm=False)
    b, a = in_section("technology", 2)
    await render.publish(enriched(b), enriched(a, related=[b.id]))
    assert await render.cache.get("home") is not None
    await render.publish(enriched(b, version=2, headline="عنوان جديد"))
    page = await render.cache.get(f"page:{a.id}")  # a dependent of B, rendered by the batch
    assert page is not None and "عنوان جديد" in page.html


async def test_a_render_stored_after_a_concurrent_change_is_dropped(
    redis: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cache in a Redis of its own, the fragments are stored after the epoch check,
    and never once the writer's purge has moved the cache's fence. (On the log's Redis they
    are stored in the step that checks: the test below.)"""
    cache_redis = aioredis.from_url(redis_url)
    render = Render(redis, warm=True, cache_redis=cache_redis)
    (a,) = in_section("sport", 1, skip=40)
    await render.publish(enriched(a))
    await render.cache.purge({f"card:{a.id}"})
    render.renderer._cache = cache = FragmentCache(cache_redis, shares_log=False)
    store = cache.store

    async def change_then_store(
        fragments: dict[str, StoredFragment | None], if_epoch: int | None = None
    ) -> bool:
        # Another replica applies a new headline (and purges) between our check and our write.
        await render.articles.put_live(enriched(a, version=2, headline="جديد"))
        await cache.purge({f"card:{a.id}"}, epoch=await render.articles.epoch())
        return await store(fragments, if_epoch)

    monkeypatch.setattr(cache, "store", change_then_store)
    fragment = await render.renderer.refresh(f"card:{a.id}")
    assert fragment is not None  # the reader still gets an answer...
    monkeypatch.undo()
    assert await render.cache.get(f"card:{a.id}") is None  # ...but the old headline is not kept
    await cache_redis.aclose()


async def test_with_one_redis_a_refresh_records_and_stores_in_the_step_that_checks_the_epoch(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read (two round trips: the page's article, then its linked stories), then one script
    that checks the epoch, records what the fragments show and stores them: no moment is
    left between the check and the write for a change to slip in, and no check after."""
    a, b, c = in_section("culture", 3, skip=20)
    await render.publish(enriched(b), enriched(c), enriched(a, related=[b.id, c.id]))
    await render.cache.purge({f"page:{a.id}", f"related:{a.id}"})
    trips = RoundTrips(monkeypatch)
    await render.renderer.refresh_many([f"page:{a.id}", f"related:{a.id}"])
    assert trips.count == 3
    monkeypatch.undo()
    page = await render.cache.get(f"page:{a.id}")
    assert page is not None and see_also_ids(page.html) == [b.id, c.id]
    assert f"page:{a.id}" in await render.articles.dependents(b.id)


async def test_with_one_redis_a_change_during_a_refresh_is_rendered_not_the_old_read(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = in_section("sport", 1, skip=45)
    await render.publish(enriched(a))
    await render.cache.purge({f"card:{a.id}"})
    record = render.articles.record_shows_many

    async def change_then_record(*args: object, **kwargs: object) -> bool:
        monkeypatch.setattr(render.articles, "record_shows_many", record)
        # Another replica applies a new headline (and purges) between our read and our write.
        await render.articles.put_live(enriched(a, version=2, headline="جديد"))
        await render.cache.purge({f"card:{a.id}"})
        return await record(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render.articles, "record_shows_many", change_then_record)
    await render.renderer.refresh(f"card:{a.id}")
    card = await render.cache.get(f"card:{a.id}")
    assert card is not None and "جديد" in card.html


async def test_showing_is_not_recorded_when_the_epoch_moved(render: Render) -> None:
    a, b = in_section("culture", 2, skip=5)
    await render.publish(enriched(a), enriched(b))
    epoch = await render.articles.epoch()
    assert await render.articles.record_shows_many({"page:x": [a.id]}, if_epoch=epoch)
    await render.articles.put_withdrawn(b.id, 2)
    assert not await render.articles.record_shows_many({"page:x": [b.id]}, if_epoch=epoch)
    assert "page:x" not in await render.articles.dependents(b.id)
    assert "page:x" in await render.articles.dependents(a.id)


async def test_one_transaction_guards_each_articles_version(render: Render) -> None:
    a, b = in_section("sport", 2, skip=50)
    await render.articles.put_many([enriched(a, version=3)])
    results = await render.articles.put_many(
        [enriched(a, version=2), enriched(b, version=1), Withdrawal("never-seen", 4)]
    )
    assert [results[i].applied for i in (a.id, b.id, "never-seen")] == [False, True, True]
    stored = await render.articles.get(a.id)
    assert stored is not None and stored.version == 3


class RecordingRenderer:
    def __init__(self) -> None:
        self.chunks: list[list[str]] = []

    async def refresh_many(self, names: list[str]) -> dict[str, StoredFragment | None]:
        self.chunks.append(list(names))
        return {}


async def test_the_warm_lane_takes_home_and_first_listing_pages_before_older_work() -> None:
    renderer = RecordingRenderer()
    lane = WarmLane(renderer, chunk=2, pause_s=0)  # type: ignore[arg-type]
    lane.add(["page:a", "related:a", "page:b"])
    lane.add(["home", "section:sport:1"], hot=True)
    lane.add(["page:a"])  # purged again meanwhile: still rendered once
    assert [await lane.render_chunk() for _ in range(3)] == [2, 2, 1]
    assert renderer.chunks == [["home", "section:sport:1"], ["page:a", "related:a"], ["page:b"]]


async def test_a_batch_waits_for_one_slice_of_the_warm_lanes_chunk_not_all_of_it() -> None:
    """The lane renders its chunk a few fragments at a time under the consumer's lock."""
    order: list[str] = []
    first_slice_started, go_on = asyncio.Event(), asyncio.Event()

    class SlowRenderer:
        async def refresh_many(self, names: list[str]) -> dict[str, StoredFragment | None]:
            order.append(f"lane {len(names)}")
            first_slice_started.set()
            await go_on.wait()
            return {}

    lane = WarmLane(
        SlowRenderer(),
        chunk=64,
        pause_s=0,
    )  # type: ignore[arg-type]
    lane.add([f"page:{n}" for n in range(20)])
    chunk = asyncio.create_task(lane.render_chunk())
    await first_slice_started.wait()

    async def batch() -> None:
        async with lane.hold():
            order.append("batch")

    applied = asyncio.create_task(batch())
    await asyncio.sleep(0)
    go_on.set()
    assert await chunk == 20
    await applied
    assert order == ["lane 8", "batch", "lane 8", "lane 4"]


async def test_applying_a_change_does_not_parse_again_a_stored_article_already_read(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh of links comes for a story read (parsed) to render it: its stored JSON is
    not validated again to apply the refresh."""
    a, b, c = in_section("culture", 3)
    await render.publish(enriched(b), enriched(c), enriched(a, related=[b.id]))
    await render.renderer.fetch(f"page:{a.id}")
    stored = await render.redis.get(article_key(a.id))
    parsed: list[bytes] = []
    validate = StoredArticle.model_validate_json

    def counting(raw: bytes, *args: object, **kwargs: object) -> StoredArticle:
        parsed.append(raw)
        return validate(raw, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(StoredArticle, "model_validate_json", staticmethod(counting))
    await render.publish(enriched(a, related=[c.id, b.id]), kind="article.related_refreshed")
    assert stored not in parsed
    page = await render.renderer.fetch(f"page:{a.id}")
    assert page is not None and see_also_ids(page.html) == [c.id, b.id]


async def test_a_batch_of_stale_events_logs_them_once_each_with_its_own_ids(
    render: Render,
) -> None:
    """Each stale event was a line of its own carrying the whole batch's ids as lists (the
    consumer's log context): now one line for the batch, one entry per event."""
    stories = in_section("sport", 3)
    await render.publish(*(enriched(story, version=2) for story in stories))
    deliveries = [Delivery(f"{n}-0", event(enriched(s))) for n, s in enumerate(stories, 1)]
    with structlog.testing.capture_logs() as logs:
        async with logging_context(deliveries):
            await render.updater.handle(deliveries)  # older copies, late
    (line,) = [entry for entry in logs if entry["event"].startswith("stale_event")]
    assert line["event"] == "stale_events_skipped" and line["count"] == 3
    assert line["skipped"] == [
        {
            "event_id": d.event.event_id,
            "article_id": d.event.article_id,
            "version": 1,
            "known_version": 2,
        }
        for d in deliveries
    ]


async def test_a_refresh_of_links_keeps_the_shells_html_and_names_the_new_links(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shell shows no link, only their keys: a refresh of links does not render its page
    template again, yet its keys and dependencies follow the new list; a new headline does
    render it again."""
    render = Render(redis, warm=True, edge_assembles_pages=True)
    a, b, c = in_section("culture", 3, skip=10)
    await render.publish(enriched(b), enriched(c), enriched(a, related=[b.id]))
    await render.warm_all()
    before = await render.cache.get(f"shell:{a.id}")
    assert before is not None and f"article:{c.id}" not in before.surrogate_keys

    pages: list[str] = []
    render_page = fragments.render_page

    def counting(title: str, *args: object, **kwargs: object) -> str:
        pages.append(title)
        return render_page(title, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fragments, "render_page", counting)
    await render.publish(enriched(a, related=[c.id, b.id]), kind="article.related_refreshed")
    await render.warm_all()
    after = await render.cache.get(f"shell:{a.id}")
    assert after is not None and after.html == before.html
    assert f"article:{c.id}" in after.surrogate_keys and c.id in after.shows
    assert f"shell:{a.id}" in await render.articles.dependents(c.id)
    assert a.headline not in pages

    await render.publish(enriched(a, version=2, headline="عنوان آخر", related=[c.id, b.id]))
    await render.warm_all()
    changed = await render.cache.get(f"shell:{a.id}")
    assert changed is not None and "عنوان آخر" in changed.html
    assert "عنوان آخر" in pages


async def test_a_batch_reads_what_its_purge_needs_in_one_round_trip(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new story and a refresh of another's links: the links last purged for, the live
    stories of both lists, the listing's size and the fragments that showed the changed
    story are one read; apply (3), that read (1), purge (1), links shown (1) and the new
    story's own fragments (read 2, record and store 1)."""
    a, b, c, d = in_section("culture", 4, skip=12)
    await render.publish(enriched(b), enriched(c), enriched(a, related=[b.id]))
    await render.warm_all()
    trips = RoundTrips(monkeypatch)
    await render.updater.handle(
        [
            Delivery("1-0", event(enriched(d, related=[b.id]))),
            Delivery("2-0", event(enriched(a, related=[c.id, b.id]), "article.related_refreshed")),
        ]
    )
    assert trips.count == 9
    monkeypatch.undo()
    assert await render.cache.get(f"article:{a.id}") is None  # purged: its links changed
    on_read = await render.renderer.fetch(f"article:{a.id}")
    assert on_read is not None and see_also_ids(on_read.html) == [c.id, b.id]
    assert f"article:{d.id}" in await render.articles.dependents(b.id)
