"""Agencies' flashes ("عاجل") as breaking news above home and their section, until they end.

A flash (ingest's `extra.flash`) is in the banner at the top of home and of its
listings until a full article on the same story is stored (the same story id), it is
withdrawn, or the set time passes. Through the render process (its stream in, pages
out) and, for time, render's parts in process with a clock the test moves.
"""

import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from khabar_dev.edge import start_edge
from khabar_dev.processes import ProcessGroup, free_port
from khabar_render.breaking import BreakingNews
from khabar_render.breaking_sweep import PURGED, BreakingSweeper
from khabar_render.fragments import category_of
from khabar_render.purge import PurgeNotifier
from khabar_render.renderer import Renderer
from khabar_render.site import default_site
from khabar_render.store import ArticleStore, FragmentCache
from khabar_shared import failpoints
from khabar_shared.events import Article, EnrichedArticle
from tests.integration.test_edge import Edge, assert_from_the_edge
from tests.integration.test_render_service import (
    PurgeReceiver,
    RenderService,
    enriched,
    in_section,
    purge_receiver,
    purges,
    render_redis,
    render_service,
)
from tests.support import eventually

SITE = default_site()
__all__ = ["purges", "render_redis"]  # module fixtures, shared with test_render_service
WINDOW_S = 1800


def flash(n: int, category: str, headline: str, minutes_ago: float) -> Article:
    """A headline-only urgent item as ingest makes it (no body, `extra.flash`)."""
    return Article(
        id=f"flash-{n}",
        uri=f"urn:agency:flash-{n}",
        language="ar",
        headline=headline,
        category=category,
        versioncreated=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        extra={"flash": True},
    )


def told(article: Article, story_id: str) -> EnrichedArticle:
    """A full article that enrich found to tell the story `story_id`."""
    full = enriched(article.model_copy(update={"versioncreated": datetime.now(UTC)}))
    return full.model_copy(update={"story_id": story_id})


def banner_ids(html: str) -> list[str]:
    match = re.search(r'<aside class="breaking".*?</aside>', html, re.DOTALL)
    return re.findall(r'data-article-id="([^"]+)"', match.group(0)) if match else []


@pytest.fixture
def render(render_redis: str, purges: PurgeReceiver, tmp_path: Path) -> Iterator[RenderService]:
    env = {"KHABAR_BREAKING_NEWS_S": str(WINDOW_S), "KHABAR_BREAKING_SWEEP_S": "0.2"}
    with render_service(render_redis, purges, tmp_path / "render.log", extra_env=env) as service:
        yield service


def test_flash_is_breaking_on_home_and_its_section_until_its_story_is_told_or_it_is_withdrawn(
    render: RenderService,
) -> None:
    world, sport, economy = in_section("world", 2), in_section("sport", 2), in_section("economy", 1)
    render.publish(*(enriched(a) for a in [*world, *sport]))
    quake = flash(1, "world", "عاجل: زلزال بقوة 6 درجات يضرب جنوب تركيا", minutes_ago=2)
    final = flash(2, "sport", "عاجل | الهلال بطلا لكأس آسيا", minutes_ago=1)
    stale = flash(3, "world", "عاجل: انقطاع الكهرباء عن العاصمة", minutes_ago=WINDOW_S / 60 + 5)
    render.publish(enriched(quake), enriched(final), enriched(stale))
    render.applied(stale.id, 1)

    home = eventually(lambda: (r := render.get("/")).status_code == 200 and r.text)
    assert banner_ids(home) == [final.id, quake.id]  # newest first; the stale one never
    assert home.index('class="breaking"') < home.index('class="home-section"')
    assert quake.headline in home
    assert banner_ids(render.get("/category/world").text) == [quake.id]
    assert banner_ids(render.get("/category/sport").text) == [final.id]
    assert banner_ids(render.get(f"/articles/{world[0].id}").text) == []

    # The full story of the quake, filed under economy: the quake leaves every banner,
    # the world listing's too (the sweeper's: the answer changed no world listing).
    render.publish(told(economy[0], story_id=quake.id))
    eventually(lambda: banner_ids(render.get("/category/world").text) == [])
    assert banner_ids(render.get("/").text) == [final.id]

    render.withdraw(final.id, 2)
    eventually(lambda: banner_ids(render.get("/category/sport").text) == [])
    assert banner_ids(render.get("/").text) == []
    assert 'class="breaking"' not in render.get("/").text


@pytest.fixture
def edge_site(render_redis: str, tmp_path: Path) -> Iterator[tuple[Edge, RenderService]]:
    """Render behind the edge (as test_edge's `site`), its sweeper quick."""
    edge_port, render_port = free_port(), free_port()
    token = secrets.token_urlsafe(16)
    env = {
        "KHABAR_EDGE_PURGE_URL": f"http://127.0.0.1:{edge_port}/",
        "KHABAR_EDGE_PURGE_TOKEN": token,
        "KHABAR_BREAKING_SWEEP_S": "0.2",
    }
    group = ProcessGroup()
    with (
        purge_receiver() as receiver,
        render_service(
            render_redis, receiver, tmp_path / "render.log", port=render_port, extra_env=env
        ) as render,
    ):
        try:
            start_edge(group, tmp_path / "edge", edge_port, render_port, free_port(), token)
            yield Edge(f"http://127.0.0.1:{edge_port}", token, tmp_path / "edge"), render
        finally:
            group.stop_all()


def test_the_edge_drops_a_flash_told_in_another_section(
    edge_site: tuple[Edge, RenderService],
) -> None:
    edge, render = edge_site
    (economy,) = in_section("economy", 1)
    quake = flash(1, "world", "عاجل: زلزال يضرب جنوب تركيا", minutes_ago=1)
    render.publish(enriched(quake))
    render.applied(quake.id, 1)
    for path in ("/", "/category/world"):
        edge.get(path)
        cached = edge.get(path)
        assert_from_the_edge(cached)
        assert cached.headers["x-cache"] == "HIT" and banner_ids(cached.text) == [quake.id], path

    render.publish(told(economy, story_id=quake.id))
    for path in ("/", "/category/world"):
        eventually(lambda path=path: banner_ids(edge.get(path).text) == [])


# In process, with a clock ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def parts(
    render_redis: str,
) -> AsyncIterator[tuple[Renderer, BreakingSweeper, ArticleStore, FragmentCache, Clock]]:
    redis = aioredis.from_url(render_redis)
    await redis.flushdb()
    clock = Clock()
    news = BreakingNews(redis, WINDOW_S, clock=clock)
    articles = ArticleStore(redis, lambda e: SITE.listings_of(category_of(e)))
    cache = FragmentCache(redis)
    renderer = Renderer(articles, cache, SITE, 10, 4, news)
    try:
        yield (
            renderer,
            BreakingSweeper(news, articles, cache, PurgeNotifier("")),
            articles,
            cache,
            clock,
        )
    finally:
        await redis.aclose()


async def test_flash_leaves_the_banner_when_its_time_is_up_and_the_sweeper_purges_it(
    parts: tuple[Renderer, BreakingSweeper, ArticleStore, FragmentCache, Clock],
) -> None:
    renderer, sweeper, articles, cache, clock = parts
    quake = flash(1, "world", "عاجل: زلزال يضرب جنوب تركيا", minutes_ago=10)
    await articles.put_live(enriched(quake))
    home = await renderer.fetch("home")
    assert home is not None and banner_ids(home.html) == [quake.id]
    assert await sweeper.sweep() == []

    clock.now += WINDOW_S  # ten minutes past its time
    assert await cache.get("home") is not None  # cached as it was, until the sweep
    assert await sweeper.sweep() == [quake.id]
    assert await cache.get("home") is None
    home = await renderer.fetch("home")
    assert home is not None and banner_ids(home.html) == []
    assert await sweeper.sweep() == []  # forgotten once its pages were purged


async def test_a_flash_of_a_story_told_before_or_that_comes_again_with_a_body_is_not_breaking(
    parts: tuple[Renderer, BreakingSweeper, ArticleStore, FragmentCache, Clock],
) -> None:
    renderer, _, articles, _, _ = parts
    (full,) = in_section("world", 1)
    await articles.put_live(told(full, story_id=full.id))
    late = flash(1, "world", "عاجل: زلزال يضرب جنوب تركيا", minutes_ago=1)
    await articles.put_live(enriched(late).model_copy(update={"story_id": full.id}))
    grown = flash(2, "world", "عاجل: انفجار في الميناء", minutes_ago=1)
    await articles.put_live(enriched(grown))
    assert banner_ids((await renderer.refresh("section:world:1")).html) == [grown.id]  # type: ignore[union-attr]

    with_body = grown.model_copy(update={"body_html": "<p>التفاصيل</p>", "extra": {}})
    await articles.put_live(enriched(with_body, version=2))
    assert banner_ids((await renderer.refresh("section:world:1")).html) == []  # type: ignore[union-attr]


async def test_a_sweep_stopped_after_its_purge_is_done_again_by_the_next(
    parts: tuple[Renderer, BreakingSweeper, ArticleStore, FragmentCache, Clock],
) -> None:
    renderer, sweeper, articles, cache, clock = parts
    quake = flash(1, "world", "عاجل: زلزال يضرب جنوب تركيا", minutes_ago=10)
    await articles.put_live(enriched(quake))
    stale = await renderer.fetch("section:world:1")
    assert stale is not None and banner_ids(stale.html) == [quake.id]

    clock.now += WINDOW_S
    failpoints.arm(PURGED.name)
    try:
        with pytest.raises(failpoints.FailpointHit):
            await sweeper.sweep()
    finally:
        failpoints.disarm_all()
    # A render that read the flash before its time was up stores its copy after that purge.
    await cache.put(stale)
    assert await sweeper.sweep() == [quake.id]  # the flash was not forgotten: purged again
    assert await cache.get("section:world:1") is None
    fresh = await renderer.fetch("section:world:1")
    assert fresh is not None and banner_ids(fresh.html) == []


async def test_a_flash_is_no_longer_breaking_once_an_article_following_it_up_is_stored(
    parts: tuple[Renderer, BreakingSweeper, ArticleStore, FragmentCache, Clock],
) -> None:
    """Superdesk's "update" of a flash (`rewrite_of`, ingest's `extra.follows_up`), whatever
    story enrich found for either."""
    renderer, _, articles, _, _ = parts
    quake = flash(1, "world", "عاجل: زلزال يضرب جنوب تركيا", minutes_ago=1)
    await articles.put_live(enriched(quake).model_copy(update={"story_id": "an-older-story"}))
    assert banner_ids((await renderer.refresh("home")).html) == [quake.id]  # type: ignore[union-attr]

    (full,) = in_section("economy", 1)
    update = full.model_copy(update={"extra": {"follows_up": quake.id}})
    await articles.put_live(told(update, story_id=update.id))
    assert banner_ids((await renderer.refresh("home")).html) == []  # type: ignore[union-attr]


@pytest.mark.parametrize("shares_log", [True, False])
async def test_a_render_that_read_a_flash_breaking_never_stores_it_after_the_sweepers_purge(
    parts: tuple[Renderer, BreakingSweeper, ArticleStore, FragmentCache, Clock],
    render_redis: str,
    shares_log: bool,
) -> None:
    """Home is rendered while the flash is breaking; before that render stores, the flash's
    time is up and the sweeper purges home (stopped there, before it forgets the flash).
    The sweeper moved the epoch before its purge: on the log's Redis home was stored with
    its record, before the sweep, whose purge drops it; on a cache of its own the store
    is refused and home rendered again without the banner."""
    _, sweeper, articles, _, clock = parts
    # A cache of its own is on another client (the app's wiring when the URLs differ).
    cache_redis = articles._redis if shares_log else aioredis.from_url(render_redis)
    cache = FragmentCache(cache_redis, shares_log=shares_log)
    renderer = Renderer(articles, cache, SITE, 10, 4, sweeper._news)
    quake = flash(1, "world", "عاجل: زلزال يضرب جنوب تركيا", minutes_ago=10)
    await articles.put_live(enriched(quake))
    record = articles.record_shows_many
    sweeps = [sweeper]

    async def recorded_then_swept(
        shows: dict[str, list[str]], if_epoch: int | None = None, **store: object
    ) -> bool:
        recorded = await record(shows, if_epoch=if_epoch, **store)
        if sweeps:
            clock.now += WINDOW_S
            failpoints.arm(PURGED.name)
            with pytest.raises(failpoints.FailpointHit):
                await sweeps.pop().sweep()
        return recorded

    articles.record_shows_many = recorded_then_swept  # type: ignore[method-assign]
    try:
        await renderer.fetch("home")
    finally:
        failpoints.disarm_all()
    assert not sweeps
    cached = await cache.get("home")
    assert cached is None or banner_ids(cached.html) == []
    if not shares_log:
        await cache_redis.aclose()
