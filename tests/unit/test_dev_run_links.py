"""The addresses `make run` prints can be handed to curl as they are.

Raw UTF-8 in a request line is refused (the edge answers 400), so every printed link must be
percent-encoded in its path and query; decoded, it still names the Arabic page it points at.
"""

import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from khabar_dev.run import print_where_to_look
from khabar_dev.settings import RunSettings

# RFC 3986: unreserved, reserved and the percent sign; nothing else belongs in a URL.
URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


def printed_links(capsys: pytest.CaptureFixture[str], article_id: str) -> list[str]:
    settings = RunSettings(data_dir=Path("/tmp/khabar-links"), edge_port=8000)
    print_where_to_look(settings, "key", article_id, generated_key=True, push_secret="s")
    out = capsys.readouterr().out
    return re.findall(r"https?://[^\s,]+", out)


def test_every_printed_link_is_percent_encoded_and_decodes_to_its_arabic(
    capsys: pytest.CaptureFixture[str],
) -> None:
    links = printed_links(capsys, "FR-20180110-فرنسا-الصين")
    assert links
    for link in links:
        assert URL_CHARS.match(link), link
    article = next(link for link in links if "/articles/" in link)
    assert unquote(urlsplit(article).path) == "/articles/FR-20180110-فرنسا-الصين"
    page = next(link for link in links if urlsplit(link).path == "/search")
    assert parse_qs(urlsplit(page).query) == {"q": ["السعودية"]}
    api = next(link for link in links if urlsplit(link).path == "/v1/search")
    assert parse_qs(urlsplit(api).query) == {"q": ["ترامب"]}


def test_the_search_origin_link_names_a_page_search_serves(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It printed `http://127.0.0.1:8002/`, which search answers 404 {"detail":"Not Found"}.
    from khabar_search.app import create_app
    from khabar_search.settings import SearchSettings

    served = {
        route.path
        for route in create_app(SearchSettings()).routes
        if "GET" in (getattr(route, "methods", None) or ())
    }
    origin = next(
        link
        for link in printed_links(capsys, "a1")
        if urlsplit(link).port == RunSettings().search_port
    )
    assert urlsplit(origin).path in served, origin
