"""`khabar reindex`: the index rebuilt from the log and swapped in while readers keep searching."""

import asyncio
import os
import secrets
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bench.relevance import load_corpus_articles
from bench.relevance import versioned_event as event
from khabar_dev.processes import REPO_ROOT
from khabar_search.indexer import VERSIONS_KEY, Indexer
from khabar_search.meili import MeiliWriter
from khabar_search.query import SearchClient, SearchParams
from khabar_search.rebuild import rebuild
from khabar_search.synonyms import load_synonyms
from khabar_shared.events import Article, EnrichedEvent, encode_event
from khabar_shared.redis_helpers import RedisClient, connect
from khabar_shared.text import tokenize
from tests.conftest import Servers


@pytest.fixture(scope="module")
def articles() -> list[Article]:
    return load_corpus_articles(300)


@pytest.fixture(scope="module")
def log_events(articles: list[Article]) -> list[EnrichedEvent]:
    """The log: every article v1, the first 20 updated to v2, articles 20..29 withdrawn (v2)."""
    events = [event(a, 1) for a in articles]
    events += [event(a, 2) for a in articles[:20]]
    events += [event(a, 2, withdrawn=True) for a in articles[20:30]]
    return events


@pytest_asyncio.fixture
async def redis(servers: Servers) -> AsyncIterator[RedisClient]:
    client = connect(servers.redis_url)
    yield client
    await client.aclose()


def frequent_word(articles: list[Article]) -> str:
    counts = Counter(w for a in articles for w in set(tokenize(a.headline)) if len(w) > 4)
    return counts.most_common(1)[0][0]


def documents(servers: Servers, index: str) -> dict[str, dict[str, Any]]:
    answer = httpx.post(
        f"{servers.meili_url}/indexes/{index}/documents/fetch",
        timeout=10,
        json={"limit": 10_000, "fields": ["id", "version", "headline"]},
        headers={"Authorization": f"Bearer {servers.meili_keys.index_key}"},
    )
    answer.raise_for_status()
    return {doc["id"]: doc for doc in answer.json()["results"]}


async def test_rebuild_swaps_in_the_log_while_readers_search(
    servers: Servers, redis: RedisClient, articles: list[Article], log_events: list[EnrichedEvent]
) -> None:
    stream = f"test:enriched:{secrets.token_hex(3)}"
    live = MeiliWriter(
        servers.meili_url, servers.meili_keys.index_key, f"articles_live_{secrets.token_hex(3)}"
    )
    await live.ensure_index(load_synonyms())
    await redis.delete(VERSIONS_KEY)
    for item in log_events:
        await redis.xadd(stream, encode_event(item))
    # The live index as a damaged consumer left it: only a third, plus a ghost.
    indexer = Indexer(redis, live, 0)
    from khabar_shared.consumer import Delivery

    await indexer.handle([Delivery(f"{n}-0", e) for n, e in enumerate(log_events[:100], 1)])
    ghost = dict(next(iter(documents(servers, live.index_uid).values())), id="ghost-article")
    await live.apply([ghost], [])

    word = frequent_word(articles[:100])
    reader = SearchClient(servers.meili_url, servers.meili_keys.search_key, live.index_uid)
    answers: list[int] = []
    rebuilding = True

    async def search_loop() -> None:
        while rebuilding:
            answers.append((await reader.search(SearchParams(q=word, per_page=1))).total)
            await asyncio.sleep(0)

    late = load_corpus_articles(302)[300:]  # two articles that arrive during the rebuild
    injected = False

    def progress(stage: str, done: int, total: int | None) -> None:
        nonlocal injected
        if stage == "index" and not injected:
            injected = True
            loop.create_task(redis.xadd(stream, encode_event(event(late[0], 1))))
            loop.create_task(redis.xadd(stream, encode_event(event(articles[0], 3, True))))

    loop = asyncio.get_running_loop()
    searching = asyncio.create_task(search_loop())
    try:
        report = await rebuild(redis, live, stream, batch_size=50, progress=progress)
    finally:
        rebuilding = False
        await searching
        await reader.aclose()

    assert injected and len(answers) > 5 and min(answers) > 0, answers
    found = documents(servers, live.index_uid)
    assert "ghost-article" not in found
    assert late[0].id in found and articles[0].id not in found  # caught up during the rebuild
    assert not any(a.id in found for a in articles[20:30])
    assert all(found[a.id]["version"] == 2 for a in articles[1:20])
    assert len(found) == 300 - 10 - 1 + 1
    assert report.documents == 290 and report.caught_up == 2
    # The test has nothing else to run meanwhile: a blocking read is fine.
    indexes = httpx.get(  # noqa: ASYNC210
        f"{servers.meili_url}/indexes",
        params={"limit": 1000},
        timeout=10,
        headers={"Authorization": f"Bearer {servers.meili_keys.index_key}"},
    )
    assert not [
        i
        for i in indexes.json()["results"]
        if "_rebuild_" in i["uid"] and i["uid"].startswith(live.index_uid)
    ]
    await live.delete_index()
    await redis.delete(stream)


def test_cli_reindex(servers: Servers, log_events: list[EnrichedEvent]) -> None:
    import redis as sync_redis

    stream = f"test:enriched:{secrets.token_hex(3)}"
    client = sync_redis.Redis.from_url(servers.redis_url)
    for item in log_events[:40]:
        client.xadd(stream, encode_event(item))
    index = f"articles_cli_{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "KHABAR_REDIS_URL": servers.redis_url,
        "KHABAR_MEILI_URL": servers.meili_url,
        "KHABAR_MEILI_INDEX": index,
        "KHABAR_MEILI_INDEX_KEY": servers.meili_keys.index_key,
        "KHABAR_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [str(REPO_ROOT / ".venv/bin/khabar"), "reindex", "--stream", stream],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "40 live articles" in done.stdout
    assert len(documents(servers, index)) == 40
    client.delete(stream)
