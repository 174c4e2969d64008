"""The documents Superdesk's ninjs formatter tests expect it to produce, replayed.

Each is pushed to a real ingest (with enrich, search and render running) the
way Superdesk's `http_push` transmitter does it: the picture's file first to
the assets URL (asked with GET, then uploaded as multipart), then the item,
every POST signed `x-superdesk-signature: sha1=<HMAC-SHA1 of the body>`.
Each must be accepted, or refused with a problem naming the fields a
Superdesk administrator must fix; the text items must then be rendered and
searchable, the picture shown with its caption and credit. The table of
results is printed (`pytest -s` shows it).
"""

import hmac
import io
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from PIL import Image

from khabar_dev.processes import ProcessGroup, free_port, start_services
from tests.conftest import DATABASES, Servers, System, service_env
from tests.support import eventually

CASES = json.loads(
    (Path(__file__).resolve().parents[1] / "data/superdesk/formatter_outputs.json").read_text()
)
SECRET = secrets.token_urlsafe(24)
MEDIA_ID = "55b078b31d41c8e974d17ed1"


@pytest.fixture(scope="module")
def system(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    logs = tmp_path_factory.mktemp("replay")
    ports = {service: free_port() for service in ("ingest", "enrich", "search", "render")}
    render_url = f"http://127.0.0.1:{ports['render']}"
    env = service_env(
        servers, next(DATABASES), secrets.token_urlsafe(24), f"articles_{secrets.token_hex(4)}"
    )
    env |= {
        "KHABAR_BOOTSTRAP_PUSH_SECRET": SECRET,
        "KHABAR_MEDIA_DIR": str(logs / "media"),
        "KHABAR_MEDIA_BASE_URL": f"{render_url}/media",
    }
    redis.Redis.from_url(env["KHABAR_REDIS_URL"]).flushdb()
    group = ProcessGroup()
    try:
        start_services(group, env, ports, logs)
        yield System(
            servers,
            f"http://127.0.0.1:{ports['ingest']}",
            f"http://127.0.0.1:{ports['search']}",
            render_url,
            f"http://127.0.0.1:{ports['enrich']}",
            env["KHABAR_BOOTSTRAP_INGEST_KEY"],
            group,
            env,
            logs,
        )
    finally:
        group.stop_all()


def signed(secret: str, data: bytes) -> str:
    return "sha1=" + hmac.new(str.encode(secret), msg=data, digestmod="sha1").hexdigest()


def push_item(system: System, item: dict[str, Any]) -> httpx.Response:
    data = json.dumps(item)  # as the transmitter does: json.dumps, then sign those bytes
    return httpx.post(
        f"{system.ingest_url}/v1/push/superdesk",
        content=data,
        timeout=30,
        headers={
            "Content-type": "application/json",
            "Accept": "application/json",
            "x-superdesk-signature": signed(SECRET, data.encode()),
        },
    )


def push_media(system: System, media_id: str, content: bytes, mimetype: str) -> int:
    assets = f"{system.ingest_url}/v1/push/superdesk/assets"
    with httpx.Client(timeout=30) as client:
        if client.get(f"{assets}/{media_id}").status_code == 200:
            return 200
        request = client.build_request(
            "POST",
            assets,
            data={"media_id": media_id},
            files={"media": (media_id, content, mimetype)},
        )
        request.headers["x-superdesk-signature"] = signed(SECRET, request.read())
        return client.send(request).status_code


def picture_story() -> dict[str, Any]:
    """A text item with its picture embedded, as `_format_related` writes it."""
    return {
        "guid": "urn:newsml:localhost:2026:replay-with-picture",
        "version": "1",
        "type": "text",
        "priority": 5,
        "pubstatus": "usable",
        "language": "en",
        "headline": "Harbour crane topples in storm",
        "body_html": "<p>Wind gusts toppled a "
        "harbour crane overnight; nobody was hurt, the port authority said.</p>",
        "associations": {
            "featuremedia": {
                "guid": "urn:newsml:localhost:2026:replay-picture",
                "type": "picture",
                "version": "1",
                "priority": 5,
                "headline": "Crane",
                "description_text": "The fallen crane at dawn",
                "byline": "Staff Photographer",
                "copyrightholder": "Example Press",
                "renditions": {
                    "viewImage": {
                        "href": "http://localhost:5000/api/upload/55b078b31d41c8e974d17ed1/raw",
                        "media": MEDIA_ID,
                        "mimetype": "image/jpeg",
                        "width": 64,
                        "height": 48,
                    }
                },
            }
        },
    }


def replayed_documents() -> list[tuple[str, str, list[str], dict[str, Any]]]:
    embargo = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    found = []
    for case in CASES:
        text = json.dumps(case["document"]).replace("{EMBARGO}", embargo)
        found.append((case["case"], case["expect"], case.get("pointers", []), json.loads(text)))
    found.append(("text with its picture (associations)", "article", [], picture_story()))
    return found


def outcome(answer: httpx.Response) -> tuple[str, str]:
    body = answer.json()
    if answer.status_code == 202:
        if body.get("kind") == "media":
            return "media", f"{body['type']} kept for the text items that name it"
        if body.get("kind") == "package" or "accepted" in body:
            members = body.get("members") or [a["article_id"] for a in body["accepted"]]
            return "package", f"{len(members)} members kept in order"
        return "article", f"{body['status']}, version {body['version']}"
    reasons = "; ".join(f"{e['pointer']}: {e['detail']}" for e in body.get("errors", []))
    return "refused", reasons or body.get("detail", "")


def test_superdesk_formatter_output_replayed(system: System) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 90, 160)).save(picture, "JPEG")
    assert push_media(system, MEDIA_ID, picture.getvalue(), "image/jpeg") == 201
    assert push_media(system, MEDIA_ID, picture.getvalue(), "image/jpeg") == 200  # asked first

    rows, answers = [], {}
    for name, expected, pointers, document in replayed_documents():
        answer = push_item(system, document)
        kind, detail = outcome(answer)
        rows.append((name, answer.status_code, kind, detail))
        answers[name] = answer
        assert kind == expected, (name, answer.text)
        if expected == "refused":
            assert answer.status_code == 422
            assert [e["pointer"] for e in answer.json()["errors"]] == pointers
    width = max(len(row[0]) for row in rows)
    print("\nSuperdesk ninjs formatter outputs, replayed (signed) against ingest:")
    print(f"{'document':<{width}}  HTTP  outcome   detail")
    for name, status, kind, detail in rows:
        print(f"{name:<{width}}  {status:<4}  {kind:<8}  {detail}")

    story_id = answers["text with its picture (associations)"].json()["article_id"]
    page = eventually(
        lambda: (
            (r := httpx.get(f"{system.render_url}/articles/{story_id}")).status_code == 200
            and r.text
        ),
        timeout_s=60,
    )
    assert f"{system.render_url}/media/{MEDIA_ID}" in page
    assert "The fallen crane at dawn" in page and "Staff Photographer" in page
    media = httpx.get(f"{system.render_url}/media/{MEDIA_ID}")
    assert media.status_code == 200 and media.headers["content-type"] == "image/jpeg"
    assert media.content == picture.getvalue()
    assert media.headers["x-content-type-options"] == "nosniff"
    hits = eventually(
        lambda: [
            h["id"]
            for h in httpx.get(
                f"{system.search_url}/v1/search", params={"q": "harbour crane"}
            ).json()["hits"]
            if h["id"] == story_id
        ],
        timeout_s=60,
    )
    assert hits == [story_id]
    # The formatter's text item, re-sent without its embargo (the video case), is published.
    aap_id = answers["text with a video (test_vidible_formatting)"].json()["article_id"]
    eventually(
        lambda: httpx.get(f"{system.render_url}/articles/{aap_id}").status_code == 200, timeout_s=60
    )
