"""Out of order: an older copy of an article changes nothing (real Redis, the real app).

Agency feeds and retries resend old copies. A copy whose `versioncreated` is
older than the stored version's must neither revive a withdrawal nor revert an
update; it gets 409 naming `/versioncreated` and both times, unless it names
the current version (If-Match, a batch item's `base_version`).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import redis as sync_redis

from khabar_ingest.app import create_app
from khabar_ingest.settings import IngestSettings
from khabar_ingest.store import EMBARGO_SCHEDULE
from khabar_shared.names import ARTICLE_EVENTS_STREAM
from tests.conftest import DATABASES, Servers
from tests.support import real_articles, to_ninjs, with_changes

KEY = "stale-copy-key-0123456789abcdef01"
ARTICLES = [to_ninjs(record) for record in real_articles(6)]


@asynccontextmanager
async def ingest(servers: Servers) -> AsyncIterator[tuple[httpx.AsyncClient, sync_redis.Redis]]:
    redis_url = servers.redis_url.rsplit("/", 1)[0] + f"/{next(DATABASES)}"
    redis = sync_redis.Redis.from_url(redis_url)
    redis.flushdb()
    app = create_app(IngestSettings(redis_url=redis_url, bootstrap_ingest_key=KEY))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://ingest",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as client:
        yield client, redis
    redis.close()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def later(document: dict[str, Any], hours: int, **changes: Any) -> dict[str, Any]:
    created = datetime.fromisoformat(document["versioncreated"]) + timedelta(hours=hours)
    return with_changes(document, versioncreated=created.isoformat(), **changes)


async def current(client: httpx.AsyncClient, article_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/articles/{article_id}")
    assert response.status_code == 200
    return dict(response.json())


async def test_an_older_copy_does_not_revive_a_withdrawal(servers: Servers) -> None:
    original = ARTICLES[0]
    async with ingest(servers) as (client, redis):
        first = await client.post("/v1/articles", json=original)
        assert first.status_code == 202
        article_id = first.json()["article_id"]
        kill = later(original, 3, pubstatus="canceled")
        assert (await client.post("/v1/articles", json=kill)).json()["version"] == 2
        events = redis.xlen(ARTICLE_EVENTS_STREAM)

        resent = await client.post("/v1/articles", json=original)

        assert resent.status_code == 409
        problem = resent.json()
        assert resent.headers["content-type"].startswith("application/problem+json")
        assert problem["errors"][0]["pointer"] == "/versioncreated"
        assert problem["current_version"] == 2
        assert moment(problem["stored_versioncreated"]) == moment(kill["versioncreated"])
        assert moment(problem["sent_versioncreated"]) == moment(original["versioncreated"])
        assert 'If-Match: "2"' in problem["detail"]
        state = await current(client, article_id)
        assert (state["version"], state["status"]) == (2, "canceled")
        assert redis.xlen(ARTICLE_EVENTS_STREAM) == events  # nothing appended


async def test_an_older_original_does_not_revert_an_update(servers: Servers) -> None:
    original = ARTICLES[1]
    async with ingest(servers) as (client, redis):
        article_id = (await client.post("/v1/articles", json=original)).json()["article_id"]
        update = later(original, 2, headline=original["headline"] + " (محدث)")
        assert (await client.post("/v1/articles", json=update)).status_code == 202

        resent = await client.post("/v1/articles", json=original)

        assert resent.status_code == 409
        state = await current(client, article_id)
        assert (state["version"], state["headline"]) == (2, update["headline"])
        # The update itself, sent again, is still a repeat; an equal time is still a version.
        again = await client.post("/v1/articles", json=update)
        assert (again.status_code, again.headers["idempotent-replayed"]) == (202, "true")
        same_time = with_changes(update, headline="نفس الوقت")
        assert (await client.post("/v1/articles", json=same_time)).json()["version"] == 3
        assert redis.xlen(ARTICLE_EVENTS_STREAM) == 3


async def test_if_match_on_the_current_version_lets_an_editor_force_an_older_copy(
    servers: Servers,
) -> None:
    original = ARTICLES[2]
    async with ingest(servers) as (client, _):
        article_id = (await client.post("/v1/articles", json=original)).json()["article_id"]
        kill = later(original, 3, pubstatus="canceled")
        await client.post("/v1/articles", json=kill)

        unforced = await client.post("/v1/articles", json=original)
        stale_match = await client.post("/v1/articles", json=original, headers={"If-Match": '"1"'})
        forced = await client.post("/v1/articles", json=original, headers={"If-Match": '"2"'})

        assert unforced.status_code == 409
        assert stale_match.status_code == 409  # If-Match must name the current version
        assert (forced.status_code, forced.json()["version"]) == (202, 3)
        state = await current(client, article_id)
        assert (state["version"], state["status"]) == (3, "usable")


async def test_a_batch_refuses_its_stale_item_and_accepts_the_others(servers: Servers) -> None:
    old, fresh, forced = ARTICLES[3], ARTICLES[4], ARTICLES[5]
    async with ingest(servers) as (client, _):
        for document in (old, forced):
            await client.post("/v1/articles", json=document)
            await client.post("/v1/articles", json=later(document, 1, headline="أحدث"))

        response = await client.post(
            "/v1/articles/batch", json=[old, fresh, {"article": forced, "base_version": 2}]
        )

        assert response.status_code == 200
        answer = response.json()
        assert (answer["accepted"], answer["rejected"]) == (2, 1)
        stale, new, replaced = answer["items"]
        assert (stale["outcome"], stale["status"]) == ("rejected", 409)
        assert stale["problem"]["errors"][0]["pointer"] == "/versioncreated"
        assert stale["problem"]["instance"] == "#/0"
        assert '"base_version": 2' in stale["problem"]["detail"]
        assert (new["outcome"], new["version"]) == ("accepted", 1)
        assert (replaced["outcome"], replaced["version"]) == ("accepted", 3)
        assert (await current(client, stale["article_id"]))["headline"] == "أحدث"


async def test_an_older_copy_does_not_drop_a_waiting_embargoed_update(servers: Servers) -> None:
    original = ARTICLES[0]
    async with ingest(servers) as (client, redis):
        article_id = (await client.post("/v1/articles", json=original)).json()["article_id"]
        held = later(original, 2, headline="تحديث محجوب", embargoed="2100-01-01T00:00:00Z")
        assert (await client.post("/v1/articles", json=held)).json()["status"] == "embargoed"

        resent = await client.post("/v1/articles", json=original)

        assert resent.status_code == 409
        state = await current(client, article_id)
        assert (state["version"], state["status"]) == (2, "embargoed")
        assert redis.zscore(EMBARGO_SCHEDULE, article_id) is not None  # still waiting
