"""The render service as a real process, driven through its stream, on real sample articles.

Render alone: this module starts its own Redis, a tiny HTTP receiver for the
CDN purge webhook, and for each test a fresh `khabar-render` process whose
log is Redis database 0 and whose fragment cache is database 1 (so
`KHABAR_CACHE_REDIS_URL` is exercised throughout). Tests write
`EnrichedEvent`s to the enriched stream as enrich would, then read what
render serves over HTTP and what it keeps in each Redis.
"""

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from markupsafe import escape

from khabar_dev.processes import ProcessGroup, free_port, start_redis, start_service
from khabar_ingest.formats.corpus import iter_corpus
from khabar_render.store import article_key, fragment_key, shown_in_key
from khabar_shared.events import (
    Article,
    EnrichedArticle,
    EnrichedEvent,
    Image,
    RelatedLink,
    encode_event,
)
from khabar_shared.names import ENRICHED_STREAM
from tests.support import REPO_ROOT, eventually

SAMPLE_AR = REPO_ROOT / "samples/articles.ar.jsonl.gz"
SAMPLE_EN = REPO_ROOT / "samples/articles.en.jsonl.gz"
LISTING_PAGE_SIZE = 10
HOME_PER_SECTION = 4
SITE_BASE_URL = "https://khabar.example"


# Real articles --------------------------------------------------------------------------


@cache
def sample_ar() -> tuple[Article, ...]:
    return tuple(iter_corpus(SAMPLE_AR))


@cache
def sample_en() -> tuple[Article, ...]:
    return tuple(iter_corpus(SAMPLE_EN))


def in_section(section: str, count: int, skip: int = 0) -> list[Article]:
    found = [a for a in sample_ar() if a.category == section][skip : skip + count]
    assert len(found) == count, f"the sample has too few {section} articles"
    return found


def enriched(
    article: Article,
    version: int = 1,
    related: list[str] | None = None,
    topic: str = "",
    **changes: Any,
) -> EnrichedArticle:
    return EnrichedArticle(
        article=article.model_copy(update=changes),
        version=version,
        topic=topic,
        related=[
            RelatedLink(article_id=i, score=1.0 - n / 100) for n, i in enumerate(related or [])
        ],
        enriched_at=datetime.now(UTC),
    )


def published(article: Article) -> datetime:
    return article.firstcreated or article.versioncreated


def newest_first(articles: list[Article]) -> list[Article]:
    """The order of a listing: newest first (ties, which the sample has none of, by id)."""
    return sorted(articles, key=lambda a: (published(a), a.id), reverse=True)


# What a page shows ---------------------------------------------------------------------


def text(words: str) -> str:
    """Words as the autoescaping templates write them into a page."""
    return str(escape(words))


def see_also_ids(html: str) -> list[str]:
    return re.findall(r'<p class="see-also">.*?<a href="/articles/([^"]+)"', html)


def related_ids(html: str) -> list[str]:
    _, found, block = html.partition('<section class="related"')
    return re.findall(r'data-article-id="([^"]+)"', block) if found else []


def card_ids(html: str) -> list[str]:
    return re.findall(r'<article class="card"[^>]*data-article-id="([^"]+)"', html)


def home_section_ids(html: str, slug: str) -> list[str]:
    match = re.search(
        rf'<section class="home-section" data-category="{slug}">(.*?)</section>', html, re.DOTALL
    )
    return card_ids(match.group(1)) if match else []


def category_href(html: str) -> str:
    match = re.search(
        r'<p class="article-category">.*?<a class="category-link" href="([^"]+)"', html, re.DOTALL
    )
    assert match, "the article shows no category link"
    return match.group(1)


# The purge webhook's receiver ------------------------------------------------------------


@dataclass
class PurgeReceiver:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def keys_seen(self) -> set[str]:
        return {key for body in list(self.bodies) for key in body["surrogate_keys"]}


@contextmanager
def purge_receiver() -> Iterator[PurgeReceiver]:
    """A CDN stand-in on a free loopback port that records every purge request."""
    port = free_port()
    receiver = PurgeReceiver(f"http://127.0.0.1:{port}/purge")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            receiver.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


# The render process ----------------------------------------------------------------------


@dataclass
class RenderService:
    url: str
    log: redis.Redis
    cache: redis.Redis
    purges: PurgeReceiver

    def publish(self, *articles: EnrichedArticle, kind: str = "article.enriched") -> None:
        for item in articles:
            self._xadd(
                EnrichedEvent(
                    event_id=str(uuid.uuid4()),
                    type=kind,
                    article_id=item.article.id,
                    version=item.version,
                    correlation_id=str(uuid.uuid4()),
                    source_event_id=str(uuid.uuid4()),
                    enriched=item,
                )
            )

    def withdraw(self, article_id: str, version: int) -> None:
        self._xadd(
            EnrichedEvent(
                event_id=str(uuid.uuid4()),
                type="article.withdrawn",
                article_id=article_id,
                version=version,
                correlation_id=str(uuid.uuid4()),
                source_event_id=str(uuid.uuid4()),
            )
        )

    def _xadd(self, event: EnrichedEvent) -> None:
        self.log.xadd(ENRICHED_STREAM, encode_event(event))

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=headers, timeout=10)

    def page(self, article_id: str) -> str:
        """The article page once render has it (waits for the event to be applied)."""
        return eventually(
            lambda: (r := self.get(f"/articles/{article_id}")).status_code == 200 and r
        ).text

    def applied(self, article_id: str, version: int) -> None:
        """Wait until render stored `version` (or newer) of the article."""

        def stored() -> bool:
            raw = self.log.get(article_key(article_id))
            return bool(raw) and json.loads(raw)["version"] >= version

        eventually(stored)

    def cached_html(self, name: str) -> str | None:
        raw = self.cache.get(fragment_key(name))
        return json.loads(raw)["html"] if raw else None

    def shown_in(self, article_id: str) -> set[str]:
        return {m.decode() for m in self.log.smembers(shown_in_key(article_id))}


@contextmanager
def render_service(
    redis_url: str,
    receiver: PurgeReceiver,
    log_path: Path,
    base_url: str = SITE_BASE_URL,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    shared_cache: bool = False,
) -> Iterator[RenderService]:
    """A render process on a clean Redis: log in the URL's database, cache in the next one
    (with `shared_cache`, in the log's own database, as when no cache Redis is set)."""
    log_db = int(redis_url.rsplit("/", 1)[1])
    cache_url = redis_url if shared_cache else redis_url.rsplit("/", 1)[0] + f"/{log_db + 1}"
    log, cache_redis = redis.Redis.from_url(redis_url), redis.Redis.from_url(cache_url)
    log.flushdb()
    cache_redis.flushdb()
    receiver.bodies.clear()
    env = {
        "KHABAR_REDIS_URL": redis_url,
        "KHABAR_CACHE_REDIS_URL": cache_url,
        "KHABAR_PURGE_WEBHOOK_URL": receiver.url,
        "KHABAR_SITE_BASE_URL": base_url,
        "KHABAR_LISTING_PAGE_SIZE": str(LISTING_PAGE_SIZE),
        "KHABAR_HOME_PER_SECTION": str(HOME_PER_SECTION),
        "KHABAR_LOG_FORMAT": "json",
        "KHABAR_CLAIM_IDLE_MS": "3000",
        **(extra_env or {}),
    }
    group = ProcessGroup()
    port = port or free_port()
    try:
        start_service(group, "render", env, port, log_path=log_path)
        yield RenderService(f"http://127.0.0.1:{port}", log, cache_redis, receiver)
    finally:
        group.stop_all()
        log.close()
        cache_redis.close()


@pytest.fixture(scope="module")
def render_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("render-redis"), free_port())
    finally:
        group.stop_all()


@pytest.fixture(scope="module")
def purges() -> Iterator[PurgeReceiver]:
    with purge_receiver() as receiver:
        yield receiver


@pytest.fixture
def render(render_redis: str, purges: PurgeReceiver, tmp_path: Path) -> Iterator[RenderService]:
    with render_service(render_redis, purges, tmp_path / "render.log") as service:
        yield service


# Article page: see-also links, related block, category -----------------------------------


def test_see_also_are_the_first_four_live_related_and_the_block_the_next_four(
    render: RenderService,
) -> None:
    a, *others = in_section("world", 11)
    render.publish(*(enriched(o) for o in others))
    withdrawn = others[2]
    render.withdraw(withdrawn.id, 2)
    ranked = [o.id for o in others[:3]] + ["no-such-article"] + [o.id for o in others[3:]]
    render.publish(enriched(a, related=[a.id, *ranked]))

    html = render.page(a.id)
    live = [o.id for o in others if o.id != withdrawn.id]
    assert see_also_ids(html) == live[:4]
    assert related_ids(html) == live[4:8]
    assert withdrawn.id not in html and a.id not in see_also_ids(html) + related_ids(html)
    # The inline links sit between body sections, not all after the body.
    body = html.partition('<div class="article-body">')[2]
    assert body.index('class="see-also"') < body.rindex('class="body-section"')
    # The fragments the page is made of say the same.
    assert see_also_ids(render.get(f"/fragments/article/{a.id}").text) == live[:4]
    assert related_ids(render.get(f"/fragments/related/{a.id}").text) == live[4:8]


def test_category_link_and_listing_agree_newsroom_first_then_topic(render: RenderService) -> None:
    filed, unfiled = in_section("economy", 2)
    render.publish(
        enriched(filed, topic="sport", category="internationalNews"),  # an alias of world
        enriched(unfiled, topic="technology", category=""),
    )
    assert category_href(render.page(filed.id)) == "/category/world"
    assert category_href(render.page(unfiled.id)) == "/category/technology"
    assert filed.id in card_ids(render.get("/category/world").text)
    assert filed.id not in card_ids(render.get("/category/sport").text)
    assert unfiled.id in card_ids(render.get("/category/technology").text)
    assert unfiled.id not in card_ids(render.get("/category/economy").text)


# Freshness: a change to B reaches every fragment that shows B ----------------------------


def test_headline_change_of_b_reaches_a_see_also_related_block_listing_and_home(
    render: RenderService,
) -> None:
    b, a1, a2, *fillers = in_section("sport", 7)
    newest = datetime(2030, 1, 1, tzinfo=UTC)  # so home and the listing's first page show B
    render.publish(enriched(b, firstcreated=newest), *(enriched(f) for f in fillers))
    render.publish(
        enriched(a1, related=[b.id]), enriched(a2, related=[*(f.id for f in fillers), b.id])
    )
    # Readers (or the CDN) ask for these, so they are cached and indexed as showing B.
    assert see_also_ids(render.page(a1.id)) == [b.id]
    assert related_ids(render.get(f"/fragments/related/{a2.id}").text) == [b.id]
    assert b.id in card_ids(render.get("/category/sport").text)
    assert home_section_ids(render.get("/").text, "sport")[0] == b.id
    assert {f"page:{a1.id}", f"related:{a2.id}", "section-page:sport:1", "home-page"} <= (
        render.shown_in(b.id)
    )

    new_headline = b.headline + " — تحديث"
    render.publish(enriched(b, version=2, headline=new_headline, firstcreated=newest))

    # Re-rendered in the cache by the update itself, not by the next request.
    for name in (
        f"page:{a1.id}",
        f"article:{a1.id}",
        f"related:{a2.id}",
        "section-page:sport:1",
        "home-page",
        "section:sport:1",
        "home",
    ):
        eventually(lambda name=name: text(new_headline) in (render.cached_html(name) or ""))
    for path in (f"/articles/{a1.id}", f"/fragments/related/{a2.id}", "/category/sport", "/"):
        shown = render.get(path).text
        assert text(new_headline) in shown and f">{text(b.headline)}<" not in shown
    keys = eventually(render.purges.keys_seen)
    assert {f"article:{b.id}", "section:sport", "home"} <= keys


def test_withdrawn_b_is_gone_from_a_its_listing_and_home(render: RenderService) -> None:
    b, a, *older = in_section("technology", 6)
    # B is the newest technology story, so home and the listing's first page show it.
    render.publish(
        *(enriched(o) for o in older),
        enriched(b, firstcreated=datetime(2030, 1, 1, tzinfo=UTC)),
        enriched(a, related=[b.id, older[0].id]),
    )
    assert see_also_ids(render.page(a.id)) == [b.id, older[0].id]
    assert b.id in card_ids(render.get("/category/technology").text)
    assert home_section_ids(render.get("/").text, "technology")[0] == b.id
    assert render.get(f"/fragments/card/{b.id}").status_code == 200

    render.withdraw(b.id, 2)

    gone = eventually(lambda: (r := render.get(f"/articles/{b.id}")).status_code == 410 and r)
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert gone.json()["status"] == 410
    assert render.get(f"/fragments/card/{b.id}").status_code == 410
    for path in (f"/articles/{a.id}", "/category/technology", "/"):
        shown = render.get(path).text
        assert b.id not in shown and text(b.headline) not in shown
    assert see_also_ids(render.page(a.id)) == [older[0].id]
    # Nothing shows B any more, so the dependency index forgot it.
    eventually(lambda: not render.shown_in(b.id))
    assert f"article:{b.id}" in eventually(render.purges.keys_seen)


def test_dependency_entries_are_dropped_when_a_stops_showing_b(render: RenderService) -> None:
    a, b, c = in_section("culture", 3)
    render.publish(enriched(b), enriched(c), enriched(a, related=[b.id]))
    render.page(a.id)
    assert f"page:{a.id}" in render.shown_in(b.id)

    render.publish(enriched(a, version=2, related=[c.id]))
    eventually(lambda: see_also_ids(render.cached_html(f"page:{a.id}") or "") == [c.id])
    assert {f"page:{a.id}", f"article:{a.id}"}.isdisjoint(render.shown_in(b.id))
    assert {f"page:{a.id}", f"article:{a.id}"} <= render.shown_in(c.id)


# Versions -----------------------------------------------------------------------------------


def test_an_older_version_never_replaces_a_newer_one(render: RenderService) -> None:
    a, sentinel, other = in_section("middle-east", 3)
    render.publish(enriched(a, version=3, headline=a.headline + " (٣)"))
    render.publish(enriched(a, version=2, headline=a.headline + " (٢)"))
    render.publish(enriched(sentinel))
    render.page(sentinel.id)  # events are applied in order: v2 has been seen by now
    assert text(a.headline + " (٣)") in render.page(a.id) and "(٢)" not in render.page(a.id)

    # Same version, new related links (enrich's refresh): applied.
    render.publish(enriched(other))
    render.publish(
        enriched(a, version=3, headline=a.headline + " (٣)", related=[other.id]),
        kind="article.related_refreshed",
    )
    eventually(lambda: see_also_ids(render.get(f"/articles/{a.id}").text) == [other.id])

    # A withdrawal is final for its version: a live event of that version changes nothing.
    render.withdraw(a.id, 4)
    render.publish(enriched(a, version=4))
    render.publish(enriched(sentinel, version=2))
    render.applied(sentinel.id, 2)
    assert render.get(f"/articles/{a.id}").status_code == 410


# HTTP: validators, problems -----------------------------------------------------------------


def test_etag_304_cache_control_and_surrogate_keys(render: RenderService) -> None:
    a, b = in_section("world", 2)
    render.publish(enriched(b), enriched(a, related=[b.id]))
    render.page(a.id)
    first = render.get(f"/articles/{a.id}")
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag)
    assert "stale-while-revalidate=" in first.headers["cache-control"]
    assert "max-age=" in first.headers["cache-control"]
    assert first.headers["surrogate-key"].split() == [
        f"article:{a.id}",
        f"article:{b.id}",
        f"body:{a.id}",  # what a refresh of its links purges: the part that changed
        f"related:{a.id}",
    ]

    for validator in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = render.get(f"/articles/{a.id}", **{"If-None-Match": validator})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    assert render.get(f"/articles/{a.id}", **{"If-None-Match": '"other"'}).status_code == 200

    listing = render.get("/category/world")
    assert set(listing.headers["surrogate-key"].split()) == {
        "section:world",
        f"article:{a.id}",
        f"article:{b.id}",
    }
    assert "home" in render.get("/").headers["surrogate-key"].split()


def test_unknown_article_section_and_page_are_404_problems(render: RenderService) -> None:
    (a,) = in_section("sport", 1)
    render.publish(enriched(a))
    render.page(a.id)
    for path in (
        "/articles/no-such-article",
        "/fragments/related/no-such-article",
        "/category/no-such-section",
        "/category/sport?page=2",
    ):
        answer = render.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["status"] == 404
    assert render.get("/category/sport?page=0").status_code == 400


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_an_id_with_control_characters_is_a_404_not_a_dropped_connection(
    render: RenderService,
) -> None:
    """The 404's Surrogate-Key named the id as sent: a CR, LF or NUL in it made an invalid
    header, the answer was never sent and the edge served its 503 to the reader."""
    for path in ("/articles/a%0d%0aSet-Cookie:x=1", "/fragments/card/%00", "/articles/A%01b"):
        for accept in (BROWSER_ACCEPT, "application/json"):
            answer = render.get(path, Accept=accept)
            assert answer.status_code == 404, (path, accept)
            assert "surrogate-key" not in answer.headers and "set-cookie" not in answer.headers


def test_readers_get_pages_of_the_site_for_404_and_410_in_the_articles_language(
    render: RenderService,
) -> None:
    (en,) = sample_en()[:1]
    render.publish(enriched(en))
    render.page(en.id)
    render.withdraw(en.id, 2)
    gone = eventually(
        lambda: (
            (r := render.get(f"/articles/{en.id}", accept=BROWSER_ACCEPT)).status_code == 410 and r
        )
    )
    assert gone.headers["content-type"].startswith("text/html")
    assert '<html lang="en" dir="ltr">' in gone.text
    assert "This article was withdrawn" in gone.text
    assert 'class="site-header"' in gone.text and 'action="/search"' in gone.text
    assert f"article:{en.id}" in gone.headers["surrogate-key"].split()

    for path in ("/articles/no-such-article", "/category/no-such-section", "/no/such/route"):
        missing = render.get(path, accept=BROWSER_ACCEPT)
        assert missing.status_code == 404, path
        assert missing.headers["content-type"].startswith("text/html"), path
        assert '<html lang="ar" dir="rtl">' in missing.text, path
        assert "الصفحة غير موجودة" in missing.text, path
    # Programs keep problem documents: by Accept, and on the fragment routes whatever they accept.
    for path, accept in (
        (f"/articles/{en.id}", "application/json"),
        (f"/fragments/article/{en.id}", BROWSER_ACCEPT),
    ):
        problem = render.get(path, accept=accept)
        assert problem.status_code == 410
        assert problem.headers["content-type"].startswith("application/problem+json")
        assert problem.json()["status"] == 410


# Cache: misses, flushes, two Redis ------------------------------------------------------------


def test_cache_flush_and_misses_render_again_from_the_log_redis(render: RenderService) -> None:
    a, b = in_section("economy", 2)
    render.publish(enriched(b), enriched(a, related=[b.id]))
    render.page(a.id)
    before = render.get(f"/articles/{a.id}")
    # Fragments live in the cache database only; articles in the log database only.
    assert render.cache.exists(fragment_key(f"page:{a.id}"))
    assert not render.log.exists(fragment_key(f"page:{a.id}"))
    assert render.log.exists(article_key(a.id)) and not render.cache.exists(article_key(a.id))

    render.cache.flushdb()
    after = render.get(f"/articles/{a.id}")
    assert after.status_code == 200 and after.headers["etag"] == before.headers["etag"]
    assert after.text == before.text
    assert render.cache.exists(fragment_key(f"page:{a.id}"))
    # A fragment never asked for before (the card) is rendered on demand too.
    render.cache.delete(fragment_key(f"card:{b.id}"))
    assert text(b.headline) in render.get(f"/fragments/card/{b.id}").text


def test_with_the_cache_redis_down_pages_render_fresh_and_a_503_names_the_store_that_is_down(
    purges: PurgeReceiver, tmp_path: Path
) -> None:
    """Each Redis killed in turn: without the cache, pages are rendered from the store (none
    kept); without the store, the 503 says so."""
    group = ProcessGroup()
    try:
        log_url = start_redis(group, tmp_path / "log-redis", free_port())
        cache_url = start_redis(group, tmp_path / "cache-redis", free_port())
        log_redis, cache_redis = group.processes
        env = {"KHABAR_CACHE_REDIS_URL": cache_url}
        with render_service(log_url, purges, tmp_path / "render.log", extra_env=env) as render:
            a, b = in_section("economy", 2)
            render.publish(enriched(b), enriched(a, related=[b.id]))
            render.page(a.id)
            before = render.get(f"/articles/{a.id}", accept="text/html")
            render.applied(b.id, 1)

            cache_redis.kill()
            # A page it had cached, one it never rendered, a fragment and an ESI shell.
            after = render.get(f"/articles/{a.id}", accept="text/html")
            assert after.status_code == 200, after.text
            assert after.text == before.text
            assert text(b.headline) in render.get(f"/articles/{b.id}").text
            assert text(b.headline) in render.get(f"/fragments/card/{b.id}").text
            shell = render.get(f"/articles/{a.id}", **{"surrogate-capability": 'k="ESI/1.0"'})
            assert shell.status_code == 200 and "<esi:include" in shell.text
            missing = render.get("/articles/never-seen")
            assert missing.status_code == 404

            log_redis.kill()
            down = render.get(f"/articles/{a.id}", accept="application/json")
            assert down.status_code == 503
            assert "article store" in down.json()["detail"]
            assert "log Redis" in down.json()["detail"]
    finally:
        group.stop_all()


# Home and sections with the real sample -------------------------------------------------------


def test_home_and_category_pages_with_the_sample_articles(render: RenderService) -> None:
    articles = list(sample_ar())
    render.publish(*(enriched(a) for a in articles))
    render.page(articles[-1].id)
    sections = sorted({a.category for a in articles})

    home = render.get("/").text
    assert home.startswith("<!doctype html>") and 'href="/static/site.css"' in home
    assert f'<link rel="canonical" href="{SITE_BASE_URL}/">' in home
    assert render.get("/fragments/home").text.startswith('<div class="home"')
    for slug in sections:
        latest = newest_first([a for a in articles if a.category == slug])[:HOME_PER_SECTION]
        assert home_section_ids(home, slug) == [a.id for a in latest], slug

    sport = newest_first([a for a in articles if a.category == "sport"])
    pages = -(-len(sport) // LISTING_PAGE_SIZE)
    shown: list[str] = []
    for number in range(1, pages + 1):
        listing = render.get(f"/category/sport?page={number}").text
        shown += card_ids(listing)
        assert ('rel="next"' in listing) == (number < pages)
    assert shown == [a.id for a in sport]
    whole = render.get("/category/sport?page=2").text
    assert whole.startswith("<!doctype html>") and 'aria-current="page">رياضة<' in whole
    assert f'href="{SITE_BASE_URL}/category/sport?page=2"' in whole
    assert card_ids(render.get("/fragments/section/sport?page=2").text) == card_ids(whole)
    assert render.get(f"/category/sport?page={pages + 1}").status_code == 404

    # Each article's category link leads to the listing that has it.
    for slug in sections:
        oldest = newest_first([a for a in articles if a.category == slug])[-1]
        href = category_href(render.page(oldest.id))
        assert href == f"/category/{slug}"
        last = -(-sum(a.category == slug for a in articles) // LISTING_PAGE_SIZE)
        assert oldest.id in card_ids(render.get(f"{href}?page={last}").text)


def test_pages_carry_a_strict_policy_and_show_pictures_from_allowed_hosts_only(
    render_redis: str, purges: PurgeReceiver, tmp_path: Path
) -> None:
    [a] = in_section("world", 1, skip=3)
    body = (
        '<p>قبل</p><img src="https://elsewhere.example/b.jpg" alt="b">'
        '<img src="https://cdn.allowed.example/c.jpg" alt="c">'
        '<p><a href="//evil.example/x">رابط</a> <a href="/\\evil.example/y">آخر</a></p>'
    )
    picture = Image(href="https://elsewhere.example/featured.jpg", alt="صورة")
    with render_service(
        render_redis,
        purges,
        tmp_path / "render.log",
        extra_env={"KHABAR_IMAGE_HOSTS": "cdn.allowed.example"},
    ) as service:
        service.publish(enriched(a, body_html=body, featured_image=picture))
        page = service.page(a.id)
        answer = service.get(f"/articles/{a.id}")
    assert "elsewhere.example" not in page and "evil.example" not in page
    assert 'src="https://cdn.allowed.example/c.jpg"' in page
    policy = answer.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'" and "unsafe-inline" not in policy
    assert directives["img-src"].split() == [
        "'self'",
        "https://cdn.allowed.example",
        "http://cdn.allowed.example",
    ]
    assert answer.headers["x-content-type-options"] == "nosniff"


# Feeds, sitemaps, robots.txt ----------------------------------------------------------------


def test_feeds_and_the_news_sitemap_follow_publications_and_withdrawals(
    render: RenderService,
) -> None:
    fresh, old = in_section("sport", 2)
    now = datetime.now(UTC)
    render.publish(
        enriched(fresh, firstcreated=now - timedelta(hours=1)),
        enriched(old, firstcreated=now - timedelta(hours=72)),
    )
    render.page(fresh.id)
    render.page(old.id)

    news = render.get("/news-sitemap.xml")
    assert news.headers["content-type"].startswith("application/xml")
    assert f"{SITE_BASE_URL}/articles/{fresh.id}" in news.text and old.id not in news.text
    for path in ("/rss.xml", "/category/sport/rss.xml"):
        feed = render.get(path)
        assert feed.status_code == 200 and feed.headers["content-type"].startswith(
            "application/rss+xml"
        )
        links = re.findall(r"<link>([^<]+)</link>", feed.text)
        assert links[1:] == [
            f"{SITE_BASE_URL}/articles/{fresh.id}",
            f"{SITE_BASE_URL}/articles/{old.id}",
        ]
    assert render.get("/category/sport/rss.xml").headers["surrogate-key"] == "section:sport"
    assert render.get("/category/no-such-section/rss.xml").status_code == 404
    assert f"<loc>{SITE_BASE_URL}/news-sitemap.xml</loc>" in render.get("/sitemap.xml").text
    assert f"Sitemap: {SITE_BASE_URL}/sitemap.xml" in render.get("/robots.txt").text

    render.withdraw(fresh.id, 2)
    render.applied(fresh.id, 2)
    assert fresh.id not in render.get("/news-sitemap.xml").text
    assert fresh.id not in render.get("/rss.xml").text
