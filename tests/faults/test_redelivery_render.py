"""Render stopped between any two of its writes, then the event redelivered: same end state.

For every failpoint render declares (`khabar_shared.failpoints`), a
withdrawal and a move to another section are handled once with the handler
stopped at that point, then handled again as the consumer would redeliver
them. Afterwards every fragment left in the cache equals a fresh render from
the stored articles (nothing withdrawn or moved is still shown), and the
edge's purge webhook (a real HTTP server here) received the changed
article's, its old section's and home's surrogate keys after the fault.
"""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

import khabar_render.handler  # noqa: F401 - declares render's failpoints
from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_render.app import create_app
from khabar_render.fragments import category_of
from khabar_render.handler import FragmentUpdater
from khabar_render.purge import PurgeNotifier
from khabar_render.renderer import Renderer
from khabar_render.settings import RenderSettings
from khabar_render.site import default_site
from khabar_render.store import ArticleStore, FragmentCache, StoredFragment, fragment_key
from khabar_render.warm import WarmLane
from khabar_shared import failpoints
from khabar_shared.consumer import Delivery
from khabar_shared.events import EnrichedArticle
from khabar_shared.outages import DependencyUnavailable
from tests.integration.test_render_batching import event
from tests.integration.test_render_service import enriched, in_section

SITE = default_site()
RENDER_POINTS = failpoints.declared("render.")


class Webhook:
    """A real HTTP endpoint standing in for the edge's purge API; it can fail on demand."""

    def __init__(self) -> None:
        self.received: list[list[str]] = []
        self.fail_next = 0
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if webhook.fail_next:
                    webhook.fail_next -= 1
                    self.send_response(503)
                else:
                    webhook.received.append(body["surrogate_keys"])
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/purge"

    def keys_since(self, count: int) -> set[str]:
        return {key for keys in self.received[count:] for key in keys}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, Path(tmp_path_factory.mktemp("redelivery-redis")), free_port())
    finally:
        group.stop_all()


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


class Render:
    """Render's parts as the app wires them, without a warm lane (it only re-warms)."""

    def __init__(
        self, redis: aioredis.Redis, webhook_url: str, cache_redis: aioredis.Redis | None = None
    ) -> None:
        self.redis = redis
        self.cache_redis = cache_redis or redis  # the cache on a Redis of its own, or the log's
        self.articles = ArticleStore(redis, lambda e: SITE.section(category_of(e)).slug)
        self.cache = FragmentCache(self.cache_redis, shares_log=cache_redis is None)
        self.renderer = Renderer(self.articles, self.cache, SITE, 10, 4)
        self.notifier = PurgeNotifier(webhook_url)
        self.updater = FragmentUpdater(
            self.articles, self.cache, self.renderer, self.notifier, 10, eager_limit=64
        )

    async def apply(self, *changes: EnrichedArticle, kind: str = "article.enriched") -> None:
        await self.updater.handle(
            [Delivery(f"{n}-0", event(c, kind)) for n, c in enumerate(changes)]
        )

    async def cached(self) -> dict[str, StoredFragment]:
        found = {}
        async for key in self.cache_redis.scan_iter(match=fragment_key("*")):
            fragment = await self.cache.get(key.decode().rsplit(":fragment:", 1)[1])
            if fragment is not None:
                found[fragment.name] = fragment
        return found

    async def stale(self) -> list[str]:
        """Cached fragments that differ from a fresh render of the stored articles."""
        cached = await self.cached()
        fresh = self.renderer._render_all(list(cached), await self.renderer._read(list(cached)))
        return sorted(
            name
            for name, fragment in cached.items()
            if fresh[name] is None or fresh[name].html != fragment.html
        )  # type: ignore[union-attr]


@pytest.fixture
async def render(redis_url: str, webhook: Webhook) -> AsyncIterator[Render]:
    client = aioredis.from_url(redis_url)
    await client.flushdb()
    failpoints.disarm_all()
    webhook.fail_next = 0
    yield Render(client, webhook.url)
    failpoints.disarm_all()
    await client.aclose()


async def published_and_warm(render: Render) -> tuple[EnrichedArticle, list[EnrichedArticle]]:
    """A sport story shown by two others' see-also links, every fragment in the cache."""
    target, *others = in_section("sport", 3)
    story = enriched(target)
    linking = [enriched(o, related=[target.id]) for o in others]
    await render.apply(story, *linking)
    names = [
        f"{kind}:{a.article.id}"
        for a in (story, *linking)
        for kind in ("article", "related", "page", "card")
    ]
    names += [
        "home",
        "home-page",
        "section:sport:1",
        "section-page:sport:1",
        "section:economy:1",
        "section-page:economy:1",
    ]
    for name in names:
        await render.renderer.fetch(name)
    assert target.id in (await render.cache.get("section:sport:1")).shows  # type: ignore[union-attr]
    return story, linking


async def redelivered_after(render: Render, point: str, change: EnrichedArticle, kind: str) -> None:
    """Handle `change` stopped at `point`, then again (the consumer's redelivery)."""
    failpoints.arm(point)
    with pytest.raises(failpoints.FailpointHit):
        await render.apply(change, kind=kind)
    await render.apply(change, kind=kind)


@pytest.mark.parametrize("point", RENDER_POINTS)
async def test_a_withdrawal_redelivered_after_a_stop_leaves_nothing_that_shows_it(
    render: Render, webhook: Webhook, point: str
) -> None:
    story, _ = await published_and_warm(render)
    sent = len(webhook.received)
    await redelivered_after(render, point, enriched(story.article, version=2), "article.withdrawn")

    assert await render.stale() == []
    assert not [name for name, f in (await render.cached()).items() if story.article.id in f.shows]
    assert await render.renderer.fetch(f"page:{story.article.id}") is None
    assert {f"article:{story.article.id}", "section:sport", "home"} <= webhook.keys_since(sent)


async def test_a_withdrawal_reaches_the_edge_before_any_fragment_is_rendered_again(
    render: Render, webhook: Webhook
) -> None:
    """The edge is told as soon as render's own copies are purged, not after its renders.

    Stopped in its first render (the dependency index written, no fragment),
    the withdrawal's keys were already sent; the redelivery sends them again.
    """
    story, _ = await published_and_warm(render)
    sent = len(webhook.received)
    failpoints.arm("render.shows_recorded")
    with pytest.raises(failpoints.FailpointHit):
        await render.apply(enriched(story.article, version=2), kind="article.withdrawn")
    assert {f"article:{story.article.id}", "section:sport", "home"} <= webhook.keys_since(sent)


@pytest.mark.parametrize("point", RENDER_POINTS)
async def test_a_move_redelivered_after_a_stop_leaves_no_old_listing(
    render: Render, webhook: Webhook, point: str
) -> None:
    story, _ = await published_and_warm(render)
    sent = len(webhook.received)
    moved = enriched(story.article, version=2, category="economy", headline="نقل إلى الاقتصاد")
    await redelivered_after(render, point, moved, "article.enriched")

    assert await render.stale() == []
    old = await render.renderer.fetch("section:sport:1")
    new = await render.renderer.fetch("section:economy:1")
    assert old is not None and story.article.id not in old.shows
    assert new is not None and story.article.id in new.shows
    assert {
        f"article:{story.article.id}",
        "section:sport",
        "section:economy",
    } <= webhook.keys_since(sent)


async def test_a_failed_edge_purge_is_sent_again_on_redelivery(
    render: Render, webhook: Webhook
) -> None:
    story, _ = await published_and_warm(render)
    sent = len(webhook.received)
    webhook.fail_next = 1
    withdrawal = enriched(story.article, version=2)
    with pytest.raises(DependencyUnavailable):  # not acked: the event stays pending
        await render.apply(withdrawal, kind="article.withdrawn")
    assert webhook.keys_since(sent) == set()
    await render.apply(withdrawal, kind="article.withdrawn")
    assert {f"article:{story.article.id}", "section:sport", "home"} <= webhook.keys_since(sent)


async def test_no_path_serves_a_cached_fragment_of_a_withdrawn_article(
    render: Render, redis_url: str
) -> None:
    """Stopped after the tombstone, before any purge: readers get 410 all the same."""
    story, _ = await published_and_warm(render)
    article_id = story.article.id
    failpoints.arm("render.stored")
    with pytest.raises(failpoints.FailpointHit):
        await render.apply(enriched(story.article, version=2), kind="article.withdrawn")
    assert await render.cache.get(f"page:{article_id}") is not None  # still cached

    app = create_app(RenderSettings(redis_url=redis_url))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://render"
    ) as client:
        for path in (
            f"/articles/{article_id}",
            f"/fragments/article/{article_id}",
            f"/fragments/related/{article_id}",
            f"/fragments/card/{article_id}",
        ):
            response = await client.get(path)
            assert response.status_code == 410, (path, response.status_code)
            assert story.article.headline not in response.text


async def test_a_stop_while_the_warm_lane_holds_home_leaves_it_cold_never_stale(
    render: Render,
) -> None:
    """The warm lane holds home and the first listing pages for a window after a batch
    (`KHABAR_WARM_COALESCE_S`); the process stopping then, after the batch's own fragments
    were written and its events acked, loses only their warmth: they were purged before the
    ack, so nothing cached shows the old headline and a reader gets them fresh. (A stop before
    the ack is the redelivery the tests above go through, at every failpoint.)"""
    story, _ = await published_and_warm(render)
    lane = WarmLane(render.renderer, chunk=64, pause_s=0, coalesce_s=600)
    updater = FragmentUpdater(
        render.articles, render.cache, render.renderer, render.notifier, 10, 64, warm=lane
    )
    running = asyncio.create_task(lane.run())
    try:
        corrected = enriched(story.article, version=2, headline="عنوان مصحح")
        await updater.handle([Delivery("9-0", event(corrected))])  # the consumer acks after this
        for _ in range(500):  # the other articles' links go on being warmed meanwhile
            if not lane._pending:
                break
            await asyncio.sleep(0.01)
        assert not lane._pending and lane.pending == 6  # only home and sport's first pages held
    finally:
        running.cancel()  # the process stops: what the lane held is lost
        await asyncio.gather(running, return_exceptions=True)

    assert await render.stale() == []
    cached = await render.cached()
    assert "home" not in cached and "section:sport:1" not in cached
    for name in ("home", "home-page", "section:sport:1", "section-page:sport:1"):
        fragment = await render.renderer.fetch(name)  # a reader asks
        assert fragment is not None and "عنوان مصحح" in fragment.html, name


async def linked_and_warm(render: Render) -> tuple[EnrichedArticle, list[str]]:
    """A story linking to eight others (four inline, four in its block), its fragments cached."""
    target, *others = in_section("world", 12)
    await render.apply(*(enriched(o) for o in others))
    story = enriched(target, related=[o.id for o in others[:8]])
    await render.apply(story)
    for kind in ("article", "related", "page", "shell", "card"):
        await render.renderer.fetch(f"{kind}:{target.id}")
    return story, [o.id for o in others]


@pytest.mark.parametrize("point", RENDER_POINTS)
async def test_a_refresh_of_links_redelivered_after_a_stop_leaves_no_old_link(
    render: Render, webhook: Webhook, point: str
) -> None:
    story, others = await linked_and_warm(render)
    sent = len(webhook.received)
    relinked = enriched(story.article, related=[others[9], *others[:8]])
    await redelivered_after(render, point, relinked, "article.related_refreshed")

    assert await render.stale() == []
    assert {f"body:{story.article.id}", f"related:{story.article.id}"} <= webhook.keys_since(sent)


@pytest.mark.parametrize("point", RENDER_POINTS)
async def test_a_refresh_after_one_that_stopped_purges_what_the_stopped_one_did_not(
    render: Render, webhook: Webhook, point: str
) -> None:
    """The first refresh stops at `point`; the next one's list shows the same stories as the
    first's, so against the stored list nothing changed: the cache and the edge may still
    show the list from before the first, and the next one purges it."""
    story, others = await linked_and_warm(render)
    first = [others[9], *others[:8]]
    failpoints.arm(point)
    with pytest.raises(failpoints.FailpointHit):
        await render.apply(enriched(story.article, related=first), kind="article.related_refreshed")
    sent = len(webhook.received)
    await render.apply(
        enriched(story.article, related=[*first, others[10]]), kind="article.related_refreshed"
    )

    assert await render.stale() == []
    if point == "render.stored":  # nothing of the first reached the edge
        assert f"body:{story.article.id}" in webhook.keys_since(sent)


@pytest.mark.parametrize("cache", ["log's Redis", "own Redis"])
async def test_a_withdrawal_between_a_renders_read_and_its_store_never_reaches_the_cache(
    render: Render, redis_url: str, webhook: Webhook, cache: str
) -> None:
    """A reader's render of another story's body (its see-also links) reads the target
    live; the target's withdrawal (stored, purged, the edge told) lands before that render
    stores. Stopped right after its store (`render.fragments_stored`), before any later
    check: an edge fetch there must not find the withdrawn story linked. The cache on the
    log's Redis (`KHABAR_CACHE_REDIS_URL` unset) or on its own (`make run`, compose: here
    another database, so nothing shared)."""
    if cache == "own Redis":
        cache_redis = aioredis.from_url(redis_url.rsplit("/", 1)[0] + "/1")
        await cache_redis.flushdb()
        render = Render(render.redis, webhook.url, cache_redis=cache_redis)
    story, linking = await published_and_warm(render)
    target, body = story.article.id, f"article:{linking[0].article.id}"
    await render.cache.purge({body})
    record = render.articles.record_shows_many
    withdrawals = [enriched(story.article, version=2)]

    async def recorded_then_withdrawn(
        shows: dict[str, list[str]], if_epoch: int | None = None, **store: object
    ) -> bool:
        recorded = await record(shows, if_epoch=if_epoch, **store)
        if withdrawals:  # another replica applies the withdrawal in the gap, once
            await render.apply(withdrawals.pop(), kind="article.withdrawn")
            failpoints.arm("render.fragments_stored")  # the reader's render stops after its store
        return recorded

    render.articles.record_shows_many = recorded_then_withdrawn  # type: ignore[method-assign]
    with pytest.raises(failpoints.FailpointHit):
        await render.renderer.fetch(body)
    assert not withdrawals
    in_the_gap = await render.cache.get(body)  # what the edge would be given now
    # On the log's Redis the render stored with its record, before the withdrawal, whose
    # purge then dropped it; on its own, the store was refused and the body rendered again.
    assert in_the_gap is None or target not in in_the_gap.shows
