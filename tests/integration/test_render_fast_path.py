"""Cached fragments answered before FastAPI's routing (`fast_path.py`) answer as the routes do.

A query string the fast path does not know sends the same request through the
app's route, so each answer is compared with the route's own for the same
cached fragment.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from khabar_dev.processes import ProcessGroup, free_port, start_redis
from khabar_render.app import fragment_headers
from khabar_render.fast_path import CachedFragments
from khabar_render.settings import RenderSettings
from khabar_render.store import (
    WITHDRAWN_KEY,
    LiveFragments,
    StoredFragment,
    fragment_key,
    make_fragment,
)
from khabar_shared.security_headers import SecurityHeadersMiddleware
from tests.integration.test_render_service import (
    RenderService,
    enriched,
    in_section,
    purge_receiver,
    render_service,
    text,
)


@pytest.fixture(scope="module")
def fast_path_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("fast-path-redis"), free_port())
    finally:
        group.stop_all()


# The fragment cache in a database of its own (two reads at once, as with a cache Redis of
# its own), or in the log's (one script: the read and the tombstone check in one round trip).
@pytest.fixture(params=["separate cache", "shared cache"])
def render(
    fast_path_redis: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[RenderService]:
    with (
        purge_receiver() as receiver,
        render_service(
            fast_path_redis,
            receiver,
            tmp_path / "render.log",
            shared_cache=request.param == "shared cache",
        ) as service,
    ):
        yield service


# Headers every answer has, that differ between two answers of the same thing.
PER_ANSWER = {"date"}


def same_answer(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code
    assert fast.content == routed.content
    drop = PER_ANSWER
    assert {k: v for k, v in fast.headers.items() if k not in drop} == {
        k: v for k, v in routed.headers.items() if k not in drop
    }


def test_a_cached_fragment_is_answered_as_its_route_answers_it(render: RenderService) -> None:
    b, a = in_section("sport", 2)
    render.publish(enriched(b), enriched(a, related=[b.id]))
    render.page(a.id)
    for path in (f"/fragments/article/{a.id}", f"/fragments/related/{a.id}"):
        render.get(path)  # cached now
        fast, routed = render.get(path), render.get(path + "?via=route")
        assert fast.status_code == 200 and "content-security-policy" in fast.headers
        same_answer(fast, routed)
        etag = fast.headers["etag"]
        same_answer(
            render.get(path, **{"if-none-match": etag}),
            render.get(path + "?v=1", **{"if-none-match": etag}),
        )
    for query in ("", "?heading=h2"):
        path = f"/fragments/card/{a.id}{query}"
        render.get(path)
        same_answer(render.get(path), render.get(path + ("&" if query else "?") + "via=route"))


def test_a_withdrawn_article_whose_fragment_is_still_cached_is_gone(render: RenderService) -> None:
    """As after a crash between the tombstone and the purge: the tombstone wins."""
    (a,) = in_section("world", 1)
    render.publish(enriched(a))
    render.page(a.id)
    path = f"/fragments/article/{a.id}"
    assert render.get(path).status_code == 200
    render.log.sadd(WITHDRAWN_KEY, a.id)
    assert render.cached_html(f"article:{a.id}")
    assert render.get(path).status_code == 410


READS = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_get", "cmdstat_sismember", "cmdstat_mget")


def test_with_the_cache_in_the_log_redis_a_read_is_one_command(fast_path_redis: str) -> None:
    """The tombstone check and the read in one round trip: one script call, whatever it finds."""

    async def reads() -> list[bytes | None]:
        client = redis.asyncio.Redis.from_url(fast_path_redis)
        try:
            await client.flushdb()
            await client.set(fragment_key("article:live"), b"live")
            await client.set(fragment_key("article:gone"), b"gone")
            await client.sadd(WITHDRAWN_KEY, "gone")
            fragments = LiveFragments(client, client, shared=True)
            await fragments.get("article:live", "live")  # loads the script once
            await client.config_resetstat()
            found = [await fragments.get(f"article:{i}", i) for i in ("live", "gone", "missing")]
            stats = await client.info("commandstats")
            calls = {name: stat["calls"] for name, stat in stats.items()}
            # Redis counts the script's own commands too: a GET only where the article is live.
            assert {k: v for k, v in calls.items() if k.startswith(READS)} == {
                "cmdstat_evalsha": 3,
                "cmdstat_sismember": 3,
                "cmdstat_get": 2,
            }
            return found
        finally:
            await client.aclose()

    assert asyncio.run(reads()) == [b"live", None, None]


@pytest.mark.parametrize("shared", [True, False], ids=["shared cache", "separate cache"])
def test_reads_at_once_share_a_connection_per_redis(tmp_path: Path, shared: bool) -> None:
    """Every request's read on one connection (a lane), not a pooled connection each: each
    reply still goes to its own request, a withdrawn article's read still finds nothing."""
    group = ProcessGroup()
    try:  # a Redis of its own: no other test's clients come or go while it counts
        log_url = start_redis(group, tmp_path / "redis", free_port())
        found, opened = asyncio.run(concurrent_reads(log_url, shared))
    finally:
        group.stop_all()
    assert found == [None if n == 7 else f"a{n}".encode() for n in range(100)]
    assert opened == 0


async def concurrent_reads(log_url: str, shared: bool) -> tuple[list[bytes | None], int]:
    """100 reads at once (a7 withdrawn) after a first one; the connections they opened."""
    cache_url = log_url if shared else log_url.rsplit("/", 1)[0] + "/5"
    log, cache = (redis.asyncio.Redis.from_url(url) for url in (log_url, cache_url))
    try:
        await log.flushdb()
        await cache.flushdb()
        ids = [f"a{n}" for n in range(100)]
        await cache.mset({fragment_key(f"article:{i}"): i.encode() for i in ids})
        await log.sadd(WITHDRAWN_KEY, "a7")
        fragments = LiveFragments(log, cache, shared=shared)
        await fragments.get("article:a0", "a0")  # connects (and loads the script) first
        before = len(await log.client_list())
        found = await asyncio.gather(*(fragments.get(f"article:{i}", i) for i in ids))
        opened = len(await log.client_list()) - before
        await fragments.aclose()
        return list(found), opened
    finally:
        await log.aclose()
        await cache.aclose()


def test_a_read_after_redis_forgot_the_script_still_answers(fast_path_redis: str) -> None:
    async def reads() -> list[bytes | None]:
        client = redis.asyncio.Redis.from_url(fast_path_redis)
        try:
            await client.flushdb()
            await client.set(fragment_key("article:live"), b"live")
            fragments = LiveFragments(client, client, shared=True)
            first = await fragments.get("article:live", "live")
            await client.script_flush()
            found = [first, await fragments.get("article:live", "live")]
            found.append(await fragments.get("article:live", "live"))
            await fragments.aclose()
            return found
        finally:
            await client.aclose()

    assert asyncio.run(reads()) == [b"live"] * 3


def test_a_cached_fragment_while_its_cache_redis_is_down_is_rendered_by_the_routes(
    fast_path_redis: str, tmp_path: Path
) -> None:
    """The fast path leaves an outage to the routes: rendered from the store, no server error."""
    group = ProcessGroup()
    try:
        cache_url = start_redis(group, tmp_path / "cache-redis", free_port())
        with (
            purge_receiver() as receiver,
            render_service(
                fast_path_redis,
                receiver,
                tmp_path / "render.log",
                extra_env={"KHABAR_CACHE_REDIS_URL": cache_url},
            ) as render,
        ):
            (a,) = in_section("world", 1)
            render.publish(enriched(a))
            render.page(a.id)
            path = f"/fragments/article/{a.id}"
            assert render.get(path).status_code == 200
            next(p for p in group.processes if p.name == "redis").kill()
            down = render.get(path)
            assert down.status_code == 200, down.text
            assert text(a.headline) in down.text
    finally:
        group.stop_all()


def test_a_fragment_read_again_as_it_was_is_not_parsed_again(
    fast_path_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is kept by the stored bytes: parsed once, made anew when the bytes change."""
    parsed: list[bytes] = []
    parse = StoredFragment.model_validate_json

    def counted(raw: bytes) -> StoredFragment:
        parsed.append(raw)
        return parse(raw)

    monkeypatch.setattr(StoredFragment, "model_validate_json", counted)

    async def answers() -> list[tuple[int, bytes, dict[bytes, bytes]]]:
        client = redis.asyncio.Redis.from_url(fast_path_redis)
        try:
            await client.flushdb()
            fast = CachedFragments(
                missing_route,
                LiveFragments(client, client, shared=True),
                lambda fragment: fragment_headers(fragment, RenderSettings()),
                SecurityHeadersMiddleware(missing_route),
            )
            got = []
            for html in ("<p>v1</p>", "<p>v1</p>", "<p>v2</p>"):
                stored = make_fragment("article:a1", html, ["a1"], ["article:a1"])
                if not got or html != "<p>v1</p>":
                    await client.set(fragment_key("article:a1"), stored.model_dump_json())
                got.append(await asgi_get(fast, "/fragments/article/a1"))
            for answered in (got[0], got[2]):  # v1's ETag, then v2's
                etag = answered[2][b"etag"]
                got.append(await asgi_get(fast, "/fragments/article/a1", if_none_match=etag))
            return got
        finally:
            await client.aclose()

    first, again, corrected, old_etag, new_etag = asyncio.run(answers())
    assert first[:2] == again[:2] == (200, b"<p>v1</p>") and first[2] == again[2]
    assert corrected[:2] == (200, b"<p>v2</p>")
    assert first[2][b"content-security-policy"] and first[2][b"content-length"] == b"9"
    assert old_etag[:2] == (200, b"<p>v2</p>")
    assert new_etag[:2] == (304, b"") and b"content-length" not in new_etag[2]
    assert len(parsed) == 2  # v1 once, v2 once


async def missing_route(scope: dict[str, object], receive: object, send: object) -> None:
    raise AssertionError(f"the fast path passed {scope['path']} on to the app")


async def asgi_get(
    app: CachedFragments, path: str, if_none_match: bytes = b""
) -> tuple[int, bytes, dict[bytes, bytes]]:
    """One GET through `app` as uvicorn would send it: status, body, head."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [(b"if-none-match", if_none_match)] if if_none_match else []
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": headers}
    await app(scope, receive, send)
    start, body = sent
    return int(start["status"]), bytes(body["body"]), dict(start["headers"])
