"""Ingest's golden check: the answers and stream entries (and every key) a fixed run makes.

Single posts, a repeat, updates with right and stale `If-Match`, a batch with
a repeat and a bad item, an embargoed article, a withdrawal and reads, through
the real app on a real Redis. The answers, then everything in Redis (the
article stream, states, idempotency keys, embargo queue), are held equal to
`tests/data/golden/ingest.json.gz`, made by the code before a refactoring.
"""

from datetime import UTC, datetime
from typing import Any

import httpx
import redis as sync_redis

from khabar_ingest.app import create_app
from khabar_ingest.settings import IngestSettings
from tests.conftest import DATABASES, Servers
from tests.golden.dump import Namer, check, keys
from tests.support import real_articles, to_ninjs, with_changes

KEY = "golden-ingest-key-0123456789abcdef"


def answer(response: httpx.Response) -> dict[str, Any]:
    headers = {
        h: response.headers[h]
        for h in ("etag", "location", "x-correlation-id")
        if h in response.headers
    }
    return {"status": response.status_code, "headers": headers, "body": response.text}


async def test_ingest_answers_and_writes_what_it_did_before(servers: Servers) -> None:
    redis_url = servers.redis_url.rsplit("/", 1)[0] + f"/{next(DATABASES)}"
    sync_redis.Redis.from_url(redis_url).flushdb()
    documents = [to_ninjs(r) for r in real_articles(12)]
    start = datetime.now(UTC)
    app = create_app(IngestSettings(redis_url=redis_url, bootstrap_ingest_key=KEY))
    answers: list[dict[str, Any]] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://ingest",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as client:

        async def post(path: str, body: Any, **headers: str) -> None:
            sent = {"X-Correlation-ID": f"golden-{len(answers)}", **headers}
            answers.append(answer(await client.post(path, json=body, headers=sent)))

        for document in documents[:4]:
            await post("/v1/articles", document)
        await post("/v1/articles", documents[0])  # a repeat
        await post("/v1/articles", documents[4], **{"Idempotency-Key": "golden-once"})
        await post("/v1/articles", documents[4], **{"Idempotency-Key": "golden-once"})
        edited = with_changes(documents[1], headline=documents[1]["headline"] + " (محدث)")
        await post("/v1/articles", edited, **{"If-Match": '"1"'})
        await post("/v1/articles", with_changes(edited, headline="قديم"), **{"If-Match": '"1"'})
        await post(
            "/v1/articles/batch",
            [
                *documents[5:9],
                documents[2],
                {"headline": 3},
                {"article": with_changes(documents[3], headline="تصحيح"), "base_version": 1},
            ],
        )
        await post("/v1/articles", with_changes(documents[9], embargoed="2100-01-01T00:00:00Z"))
        article_id = answers[0]["headers"].get("location", "").rsplit("/", 1)[-1]
        for path in ("/v1/articles", "/v1/articles/batch"):
            await post(path, {"headline": ""})
        for read in (f"/v1/articles/{article_id}", f"/v1/articles/{article_id}/history"):
            answers.append(answer(await client.get(read)))
        answers.append(
            answer(
                await client.delete(
                    f"/v1/articles/{article_id}", headers={"X-Correlation-ID": "golden-delete"}
                )
            )
        )
        answers.append(answer(await client.delete(f"/v1/articles/{article_id}")))
    end = datetime.now(UTC)
    name = Namer(start, end)
    named_answers = [
        {**a, "headers": {h: name(v) for h, v in a["headers"].items()}, "body": name(a["body"])}
        for a in answers
    ]
    with sync_redis.Redis.from_url(redis_url) as client:
        check("ingest", {"answers": named_answers, "keys": keys(client, name)})
