"""Readers through the edge: a real varnishd (edge/khabar.vcl) in front of a real render.

Render purges the edge by surrogate key (`KHABAR_EDGE_PURGE_URL`); pages come
out of the edge assembled from render's fragments with ESI. Render's
`max-age` (30 s) is far longer than any wait here, so only a purge can make a
cached page change.
"""

import re
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from khabar_dev.edge import start_edge
from khabar_dev.processes import ProcessGroup, free_port, start_redis
from tests.integration.test_render_service import (
    RenderService,
    card_ids,
    enriched,
    home_section_ids,
    in_section,
    purge_receiver,
    render_service,
    text,
)
from tests.support import eventually


@dataclass
class Edge:
    url: str
    token: str
    work_dir: Path

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=headers, timeout=10)

    def purge(self, keys: str, **headers: str) -> httpx.Response:
        return httpx.request(
            "PURGE", self.url + "/", headers={"xkey-purge": keys, **headers}, timeout=10
        )

    def origin_fetches(self) -> list[str]:
        """Every URL the edge asked render for, oldest first (from varnishd's shared log).

        Not what it asked of itself (`khabar_self`): the pages it assembles and caches whole.
        """
        found = subprocess.run(
            [
                "varnishncsa",
                "-n",
                str(self.work_dir / "varnishd"),
                "-b",
                "-d",
                "-q",
                'BackendOpen[2] ne "khabar_self"',
                "-F",
                "%U%q",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return found.stdout.splitlines()


@pytest.fixture(scope="module")
def edge_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup()
    try:
        yield start_redis(group, tmp_path_factory.mktemp("edge-redis"), free_port())
    finally:
        group.stop_all()


@pytest.fixture
def site(edge_redis: str, tmp_path: Path) -> Iterator[tuple[Edge, RenderService]]:
    """Render, and the edge in front of it on its own port; render purges the edge."""
    with edge_and_render(edge_redis, tmp_path) as found:
        yield found


@contextmanager
def edge_and_render(
    edge_redis: str, tmp_path: Path, **settings: str
) -> Iterator[tuple[Edge, RenderService]]:
    edge_port, render_port = free_port(), free_port()
    token = secrets.token_urlsafe(16)
    group = ProcessGroup()
    with purge_receiver() as receiver:
        env = {
            "KHABAR_EDGE_PURGE_URL": f"http://127.0.0.1:{edge_port}/",
            "KHABAR_EDGE_PURGE_TOKEN": token,
            **settings,
        }
        with render_service(
            edge_redis, receiver, tmp_path / "render.log", port=render_port, extra_env=env
        ) as render:
            try:
                # Search is not started: its routes are the varnishtest cases' business.
                work_dir = (tmp_path / "edge").resolve()
                start_edge(group, work_dir, edge_port, render_port, free_port(), token)
                yield Edge(f"http://127.0.0.1:{edge_port}", token, work_dir), render
            finally:
                group.stop_all()


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", html).strip()


def assert_from_the_edge(response: httpx.Response) -> None:
    assert response.headers.get("x-varnish") and "varnish" in response.headers.get("via", "")
    assert "age" in response.headers


def test_pages_are_assembled_from_fragments_as_render_would_whole(
    site: tuple[Edge, RenderService],
) -> None:
    edge, render = site
    a, b, *more = in_section("economy", 7)
    render.publish(
        *(enriched(x) for x in [b, *more]), enriched(a, related=[b.id, *(m.id for m in more)])
    )
    whole = render.page(a.id)

    page = edge.get(f"/articles/{a.id}")
    assert page.status_code == 200
    assert_from_the_edge(page)
    assert "<esi:" not in page.text
    # What the edge assembled is, byte for byte but for blank space, render's whole page.
    assert squeeze(page.text) == squeeze(whole)
    # ...and it was assembled: render was asked for the shell and each fragment.
    assert render.cached_html(f"shell:{a.id}") and "<esi:include" in render.cached_html(
        f"shell:{a.id}"
    )
    for path in ("/", "/category/economy"):
        assert squeeze(edge.get(path).text) == squeeze(render.get(path).text)
    again = edge.get(f"/articles/{a.id}")
    assert again.headers["x-cache"] == "HIT"


def test_a_withdrawal_leaves_the_article_and_every_listing_at_the_edge(
    site: tuple[Edge, RenderService],
) -> None:
    edge, render = site
    b, a, *older = in_section("technology", 5)
    # B is the newest technology story, so home and the listing's first page show it.
    render.publish(
        *(enriched(o) for o in older),
        enriched(b, firstcreated=datetime(2030, 1, 1, tzinfo=UTC)),
        enriched(a, related=[b.id]),
    )
    render.page(a.id)
    render.page(b.id)
    pages = [f"/articles/{a.id}", f"/articles/{b.id}", "/category/technology", "/"]
    for path in pages:
        edge.get(path)
    for path in pages:
        cached = edge.get(path)
        assert cached.headers["x-cache"] == "HIT", path
        assert b.id in cached.text, path

    render.withdraw(b.id, 2)

    gone = eventually(
        lambda: (r := edge.get(f"/articles/{b.id}", accept="text/html")).status_code == 410 and r
    )
    assert_from_the_edge(gone)
    # Readers get the site's page saying so, in the article's language; programs a problem.
    assert '<html lang="ar" dir="rtl">' in gone.text and "سُحب هذا الخبر" in gone.text
    problem = edge.get(f"/articles/{b.id}", accept="application/json")
    assert problem.status_code == 410 and problem.json()["status"] == 410
    for path in pages[0:1] + pages[2:]:
        shown = eventually(lambda path=path: (t := edge.get(path).text) and b.id not in t and t)
        assert text(b.headline) not in shown, path
    assert b.id not in card_ids(edge.get("/category/technology").text)
    assert b.id not in home_section_ids(edge.get("/").text, "technology")


def test_purges_are_refused_without_the_token(site: tuple[Edge, RenderService]) -> None:
    edge, render = site
    (a,) = in_section("sport", 1)
    render.publish(enriched(a))
    render.page(a.id)
    # A fetch that overlaps one of render's own purges for the publish is passed uncached.
    eventually(lambda: edge.get(f"/articles/{a.id}").headers["x-cache"] == "HIT")

    assert edge.purge(f"article:{a.id}").status_code == 403
    assert edge.purge(f"article:{a.id}", Authorization="Bearer not-the-token").status_code == 403
    assert edge.get(f"/articles/{a.id}").headers["x-cache"] == "HIT"
    assert edge.purge(f"article:{a.id}", Authorization=f"Bearer {edge.token}").status_code == 200
    assert edge.get(f"/articles/{a.id}").headers["x-cache"] == "MISS"


def test_a_story_that_keeps_its_place_is_fetched_again_as_its_cards_only(
    site: tuple[Edge, RenderService],
) -> None:
    """Listings and home list cards as includes: a correction re-fetches the story's cards.

    And the two page shells, which name every story their page shows (the edge
    keeps the page it assembles under the shell's keys); not the listings.
    """
    edge, render = site
    article_id, fetched = correct_the_newest_story(edge, render)
    card = f"/fragments/card/{quote(article_id, safe='')}"
    # The section's card (h2) and home's (h3), the pages' shells; not home's or the section's
    # listing (`/fragments/home`, `/fragments/section/economy`).
    assert sorted(fetched) == sorted(["/", "/category/economy", card, f"{card}?heading=h2"])


def test_without_card_includes_a_correction_fetches_listings_and_home_again(
    edge_redis: str, tmp_path: Path
) -> None:
    """KHABAR_EDGE_CARD_INCLUDES=false: listings and home come whole, so they are fetched again."""
    with edge_and_render(edge_redis, tmp_path, KHABAR_EDGE_CARD_INCLUDES="false") as (edge, render):
        _, fetched = correct_the_newest_story(edge, render)
    assert {"/fragments/home", "/fragments/section/economy"} <= fetched
    assert not any(path.startswith("/fragments/card/") for path in fetched)


def correct_the_newest_story(edge: Edge, render: RenderService) -> tuple[str, set[str]]:
    """The newest economy story, on home and its listing, corrected.

    Returns its id and what the edge asked render for from the correction until
    both pages showed it.
    """
    a, *older = in_section("economy", 6)
    first_seen = datetime(2030, 1, 1, tzinfo=UTC)  # the newest: on home and the listing's top
    render.publish(*(enriched(o) for o in older), enriched(a, firstcreated=first_seen))
    render.page(a.id)
    pages = ["/category/economy", "/"]
    for path in [*pages, *pages]:
        assert text(a.headline) in edge.get(path).text, path
    assert all(edge.get(path).headers["x-cache"] == "HIT" for path in pages)
    before = len(edge.origin_fetches())

    corrected = "تصحيح: عنوان جديد للخبر"
    render.publish(enriched(a, version=2, headline=corrected, firstcreated=first_seen))

    for path in pages:
        eventually(lambda path=path: corrected in edge.get(path).text)
    fetched = set(edge.origin_fetches()[before:])
    for path in pages:
        assert squeeze(edge.get(path).text) == squeeze(render.get(path).text), path
    return a.id, fetched


ESI = {"surrogate-capability": 'khabar="ESI/1.0"'}


def test_page_shells_name_everything_their_page_shows(site: tuple[Edge, RenderService]) -> None:
    """The edge keeps the page it assembles under its shell's keys: a shell names the page's."""
    _, render = site
    a, b, c = in_section("economy", 3)
    render.publish(enriched(b), enriched(c), enriched(a, related=[b.id, c.id]))
    for article in (b, c, a):
        render.page(article.id)
    whole_page_keys = set(render.get(f"/articles/{a.id}").headers["surrogate-key"].split())
    shell_keys = set(render.get(f"/articles/{a.id}", **ESI).headers["surrogate-key"].split())
    assert {f"article:{i}" for i in (a.id, b.id, c.id)} <= whole_page_keys == shell_keys
    for path, own in (("/", {"home", "home-listing"}), ("/category/economy", set())):
        whole = set(render.get(path).headers["surrogate-key"].split())
        shell = set(render.get(path, **ESI).headers["surrogate-key"].split())
        assert {f"article:{i}" for i in (a.id, b.id, c.id)} <= whole <= shell, path
        assert own <= shell, path


def test_a_corrected_related_story_leaves_the_assembled_pages_that_show_it(
    site: tuple[Edge, RenderService],
) -> None:
    """The edge caches article pages assembled; one that shows a corrected story is dropped."""
    edge, render = site
    a, b = in_section("economy", 2)
    render.publish(enriched(b), enriched(a, related=[b.id]))
    render.page(a.id)
    path = f"/articles/{a.id}"
    assert text(b.headline) in edge.get(path).text
    assert edge.get(path).headers["x-cache"] == "HIT"

    corrected = "تصحيح: عنوان آخر للخبر المرتبط"
    render.publish(enriched(b, version=2, headline=corrected))
    shown = eventually(lambda: corrected in (t := edge.get(path).text) and t)
    assert text(b.headline) not in shown
    assert squeeze(shown) == squeeze(render.get(path).text)


def test_a_withdrawal_leaves_the_edge_while_the_cache_redis_is_down(
    edge_redis: str, tmp_path: Path
) -> None:
    """Render's purge of the edge does not wait for its own cache's Redis.

    With the cache Redis down render cannot drop its cached fragments, and it
    holds the batch until it can; the edge is purged all the same (render
    renders from the store meanwhile, so what the edge fetches again is
    fresh), and again once the batch goes through with the cache back.
    """
    group = ProcessGroup()
    try:
        cache_port = free_port()
        cache_url = start_redis(group, tmp_path / "cache-redis", cache_port)
        (cache_redis,) = group.processes
        settings = {"KHABAR_CACHE_REDIS_URL": cache_url, "KHABAR_OUTAGE_BACKOFF_MAX_S": "1"}
        with edge_and_render(edge_redis, tmp_path, **settings) as (edge, render):
            b, a, *older = in_section("culture", 4)
            render.publish(
                *(enriched(o) for o in older),
                enriched(b, firstcreated=datetime(2030, 1, 1, tzinfo=UTC)),
                enriched(a, related=[b.id]),
            )
            render.page(a.id)
            render.page(b.id)
            pages = [f"/articles/{a.id}", f"/articles/{b.id}", "/category/culture", "/"]
            for path in pages:
                eventually(lambda path=path: edge.get(path).headers["x-cache"] == "HIT")
                assert b.id in edge.get(path).text, path

            cache_redis.kill()
            render.withdraw(b.id, 2)

            eventually(lambda: edge.get(f"/articles/{b.id}").status_code == 410)
            for path in pages[0:1] + pages[2:]:
                eventually(lambda path=path: b.id not in edge.get(path).text)

            # Back: the held batch purges render's cached fragments too, then the edge again.
            start_redis(group, tmp_path / "cache-redis", cache_port)
            for path in pages[0:1] + pages[2:]:
                eventually(lambda path=path: b.id not in render.get(path).text)
                assert b.id not in edge.get(path).text, path
    finally:
        group.stop_all()


def shared_log_tags(edge: Edge, url: str) -> list[str]:
    """The tags of the shared-memory log's records of every reader's request for `url`."""
    found = subprocess.run(
        [
            *("varnishlog", "-n", str(edge.work_dir / "varnishd"), "-d", "-c"),
            *("-q", f'ReqURL eq "{url}"'),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return re.findall(r"^-+\s+(\w+)\s", found.stdout, re.MULTILINE)


def test_a_hit_is_logged_for_access_logs_not_header_by_header(
    site: tuple[Edge, RenderService],
) -> None:
    """A cached hit's shared-memory log keeps what access logs and our tools read, no more.

    varnishd writes a record for every header it sends and every VCL sub it enters
    and leaves, on every hit; nothing reads them, and they cost the edge's hits CPU.
    """
    edge, render = site
    (a,) = in_section("world", 1)
    render.publish(enriched(a))
    render.page(a.id)
    url = f"/articles/{a.id}"
    eventually(lambda: edge.get(url).headers["x-cache"] == "HIT")

    tags = set(shared_log_tags(edge, url))
    # varnishncsa's default line (address, request line, status, bytes, time, referer, agent).
    for kept in ("ReqStart", "ReqMethod", "ReqURL", "ReqProtocol", "ReqHeader", "RespStatus"):
        assert kept in tags, kept
    assert {"ReqAcct", "Timestamp", "Begin", "End"} <= tags
    assert not tags & {"RespHeader", "RespUnset", "VCL_call", "VCL_return", "Hit"}, tags
    # What the edge fetched from render is still logged (origin_fetches reads it).
    assert any(a.id in fetched for fetched in edge.origin_fetches())
