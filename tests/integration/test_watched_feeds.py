"""Feeds ingest watches (`khabar feeds add`): polled by a real ingest process.

The feed is served on loopback by a small server that keeps every request's
headers, answers 304 to a matching `If-None-Match`, and can be made to fail.
"""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from khabar_cli.main import app as cli
from tests.conftest import Servers
from tests.integration.ingest_fixtures import IngestProcess, ingest_process
from tests.support import eventually

FEED = (Path(__file__).resolve().parents[1] / "data/feeds/bbc-arabic.atom.xml").read_bytes()
FEEDS_HASH = "khabar:ingest:watched-feeds"


class FeedServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.fail = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append({k.lower(): v for k, v in self.headers.items()})
                if owner.fail:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                elif self.headers.get("If-None-Match") == '"v1"':
                    self.send_response(304)
                    self.send_header("Content-Length", "0")
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/atom+xml")
                    self.send_header("ETag", '"v1"')
                    self.send_header("Content-Length", str(len(FEED)))
                self.end_headers()
                if not owner.fail and self.headers.get("If-None-Match") != '"v1"':
                    self.wfile.write(FEED)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/arabic/sports.atom"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def ingest(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    process = ingest_process(servers, tmp_path_factory.mktemp("ingest-feeds"), feed_poll_s=0.2)
    try:
        yield process
    finally:
        process.group.stop_all()


def khabar(ingest: IngestProcess, *args: str) -> str:
    result = CliRunner().invoke(
        cli, list(args), env={"KHABAR_REDIS_URL": ingest.redis_url, "COLUMNS": "240"}
    )
    assert result.exit_code == 0, result.output
    return result.output


def record(ingest: IngestProcess, url: str) -> dict[str, Any]:
    import orjson

    with ingest.redis() as client:
        return orjson.loads(client.hget(FEEDS_HASH, url))


def due_now(ingest: IngestProcess, url: str) -> None:
    """Skip the wait for the next poll (the interval is at least 10 s)."""
    import orjson

    state = record(ingest, url) | {
        "next_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    }
    with ingest.redis() as client:
        client.hset(FEEDS_HASH, url, orjson.dumps(state))
        client.delete(f"khabar:ingest:watched-feed-lock:{url}")


def test_a_watched_feed_is_polled_conditionally_and_backs_off(ingest: IngestProcess) -> None:
    feed = FeedServer()
    try:
        khabar(ingest, "feeds", "add", feed.url, "--every", "60")
        first = eventually(lambda: (r := record(ingest, feed.url)).get("last") and r)
        # Three entries: two articles, one with no id or link (refused, as `khabar import` does).
        assert first["last"]["outcome"] == "fetched"
        assert (first["last"]["accepted"], first["last"]["refused"]) == (2, 1)
        assert first["etag"] == '"v1"'
        uris = {e.article.uri for e in ingest.events()}
        assert "tag:bbc.co.uk,2018:arabic/sports-42653417" in uris
        host = feed.url.split("/")[2]
        assert {e.submitted_by for e in ingest.events()} == {f"feed:{host}"}
        length = ingest.stream_length()

        due_now(ingest, feed.url)
        second = eventually(
            lambda: (r := record(ingest, feed.url))["last"]["outcome"] == "not-modified" and r
        )
        assert feed.requests[-1]["if-none-match"] == '"v1"'
        assert ingest.stream_length() == length
        assert datetime.fromisoformat(second["next_at"]) > datetime.now(UTC) + timedelta(seconds=50)

        feed.fail = True
        due_now(ingest, feed.url)
        failed = eventually(lambda: (r := record(ingest, feed.url))["failures"] == 1 and r)
        assert failed["last"]["outcome"] == "failed" and failed["last"]["http_status"] == 503
        wait = datetime.fromisoformat(failed["next_at"]) - datetime.now(UTC)
        assert timedelta(seconds=100) < wait <= timedelta(seconds=120)  # 60 s doubled

        status = khabar(ingest, "status")
        assert feed.url in status and "failed: HTTP 503" in status
        khabar(ingest, "feeds", "remove", feed.url)
        assert feed.url not in khabar(ingest, "feeds", "list")
    finally:
        feed.server.shutdown()
