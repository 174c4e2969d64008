"""A URL too long for khabar is answered 414, by every service and by the edge, never a reset.

Found from outside: a 40,000-character URL had its connection reset at the edge (varnishd
stops reading at http_req_size) and was served as any other URL by the origins.
"""

import json
import re
import socket
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


def raw_status(base: str, target: str) -> tuple[str, bytes]:
    """The status line and body a service sends to a GET of `target`, written on a socket
    (clients refuse to send a URL over 64k)."""
    parts = urlsplit(base)
    assert parts.hostname and parts.port
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)[1])  # type: ignore[index]
        while len(body) < length and (chunk := sock.recv(65536)):
            body += chunk
    return head.split(b"\r\n", 1)[0].decode(), body


def test_a_url_too_long_for_the_http_parser_gets_414_from_every_origin(system: System) -> None:
    """Above 65,535 characters httptools cannot parse a target: uvicorn answered 400
    ("Invalid HTTP request received."), where every length from 8,193 got 414."""
    parser_max = 65_535  # http_parser_url's 16-bit lengths
    for base in (system.ingest_url, system.render_url, system.search_url):
        for length in (parser_max, parser_max + 1, 1_000_000):
            status, body = raw_status(base, targets(length)[1])
            assert status.startswith("HTTP/1.1 414 "), (base, length, status, body[:100])
            assert json.loads(body)["status"] == 414, (base, length, body[:100])
