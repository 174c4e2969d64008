"""A refresh of an article's related links touches only the fragments whose links changed.

Enrich sends about two `article.related_refreshed` events per new article. A
new list that shows the same stories in the body's inline links leaves the
article body's fragment (bytes, ETag) as it was, and the edge is not told to
drop it; one that shows no other story anywhere leaves every fragment be and
sends no purge at all. Real Redis, and a real HTTP endpoint for the purges.
"""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_render.store import StoredFragment
from khabar_shared import failpoints
from khabar_shared.events import Article
from tests.faults.test_redelivery_render import Render, Webhook
from tests.integration.test_render_service import enriched, in_section, related_ids, see_also_ids

LINK_KINDS = ("article", "related", "page", "shell", "card")


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture
async def render(redis_url: str, webhook: Webhook) -> AsyncIterator[Render]:
    client = aioredis.from_url(redis_url)
    await client.flushdb()
    failpoints.disarm_all()
    yield Render(client, webhook.url)
    failpoints.disarm_all()
    await client.aclose()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, Path(tmp_path_factory.mktemp("relink-redis")), free_port())
    finally:
        group.stop_all()


async def linked_story(render: Render) -> tuple[Article, list[Article]]:
    """A story linking to eight others (four inline, four in its block), every fragment cached."""
    story, *others = in_section("world", 12)
    await render.apply(*(enriched(o) for o in others))
    await render.apply(enriched(story, related=[o.id for o in others[:8]]))
    for kind in LINK_KINDS:
        assert await render.renderer.fetch(f"{kind}:{story.id}") is not None
    return story, others


async def fragments_of(render: Render, story: Article) -> dict[str, StoredFragment | None]:
    return {kind: await render.cache.get(f"{kind}:{story.id}") for kind in LINK_KINDS}


async def test_a_refresh_that_changes_only_the_related_block_leaves_the_body_untouched(
    render: Render, webhook: Webhook
) -> None:
    story, others = await linked_story(render)
    before = await fragments_of(render, story)
    sent = len(webhook.received)

    # The same four inline links; the block's last card is another story.
    new = [o.id for o in others[:7]] + [others[9].id]
    await render.apply(enriched(story, related=new), kind="article.related_refreshed")

    after = await fragments_of(render, story)
    assert after["article"] == before["article"]  # not rewritten: same bytes, ETag, time
    assert after["card"] == before["card"]
    page = await render.renderer.fetch(f"page:{story.id}")
    assert page is not None and others[9].id in related_ids(page.html)
    assert see_also_ids(page.html) == [o.id for o in others[:4]]
    keys = webhook.keys_since(sent)
    assert f"related:{story.id}" in keys
    assert f"body:{story.id}" not in keys and f"article:{story.id}" not in keys
    assert await render.stale() == []


async def test_a_refresh_that_shows_no_other_story_touches_nothing_and_purges_nothing(
    render: Render, webhook: Webhook
) -> None:
    story, others = await linked_story(render)
    before = await fragments_of(render, story)
    sent = len(webhook.received)

    # A ninth link, past the eight shown.
    new = [o.id for o in others[:8]] + [others[10].id]
    await render.apply(enriched(story, related=new), kind="article.related_refreshed")

    assert await fragments_of(render, story) == before
    assert webhook.keys_since(sent) == set()
    assert await render.stale() == []


async def test_a_refresh_that_changes_the_inline_links_purges_the_body_and_its_pages(
    render: Render, webhook: Webhook
) -> None:
    story, others = await linked_story(render)
    sent = len(webhook.received)

    new = [others[9].id, *(o.id for o in others[:8])]
    await render.apply(enriched(story, related=new), kind="article.related_refreshed")

    keys = webhook.keys_since(sent)
    assert {f"body:{story.id}", f"related:{story.id}"} <= keys
    assert f"article:{story.id}" not in keys  # its card, listings and home stay at the edge
    page = await render.renderer.fetch(f"page:{story.id}")
    assert page is not None and see_also_ids(page.html)[0] == others[9].id
    assert await render.stale() == []
