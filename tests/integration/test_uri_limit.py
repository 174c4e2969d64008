"""A URL too long for khabar is answered 414, by every service and by the edge, never a reset.

Found from outside: a 40,000-character URL had its connection reset at the edge (varnishd
stops reading at http_req_size) and was served as any other URL by the origins.
"""

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from khabar_dev.edge import start_edge
from khabar_dev.processes import free_port
from khabar_shared.uri_limit import MAX_TARGET_CHARS
from tests.conftest import System


@pytest.fixture(scope="module")
def edge_url(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    render, search = (urlsplit(u).port for u in (system.render_url, system.search_url))
    assert render and search
    start_edge(system.group, tmp_path_factory.mktemp("edge"), port, render, search, "t0ken")
    yield f"http://127.0.0.1:{port}"


def targets(length: int) -> list[str]:
    """Paths each service routes, padded to `length` characters of target."""
    shapes = ["/v1/articles/", "/articles/", "/search?q=", "/v1/search?q="]
    return [shape + "a" * (length - len(shape)) for shape in shapes]


def get(url: str, key: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_a_40000_character_url_gets_414_from_every_origin_and_the_edge(
    system: System, edge_url: str
) -> None:
    bases = [system.ingest_url, system.render_url, system.search_url, edge_url]
    for base in bases:
        for target in targets(40_000):
            answer = get(base + target, system.ingest_key)
            assert answer.status_code == 414, (base, target[:20], answer.status_code)


def test_the_limit_is_8192_characters_of_target(system: System, edge_url: str) -> None:
    for base in (system.ingest_url, system.render_url, system.search_url, edge_url):
        for target in targets(MAX_TARGET_CHARS):
            assert get(base + target, system.ingest_key).status_code != 414, (base, target[:20])
        for target in targets(MAX_TARGET_CHARS + 1):
            assert get(base + target, system.ingest_key).status_code == 414, (base, target[:20])
