"""Superdesk's HTTP push against a real ingest process, signed the way Superdesk signs.

Superdesk's transmitter (`superdesk/publish/transmitters/http_push.py`)
posts `json.dumps(item)` to the resource URL with
`x-superdesk-signature: sha1=<hmac.new(secret, body, "sha1").hexdigest()>`,
asks `GET {assets_url}/{media_id}` (unsigned) before uploading a file, and
uploads it as multipart (`media_id` field, `media` file part), signed over
the whole multipart body. The signing below is written from that, not with
ingest's own code.
"""

import base64
import hmac
import io
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from khabar_cli.main import app as cli
from tests.conftest import Servers
from tests.integration.ingest_fixtures import IngestProcess, ingest_process

BOOTSTRAP_SECRET = "bootstrap-push-secret-for-tests"
ENCRYPTION_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()  # KHABAR_PUSH_SECRETS_KEY
PUSH_DESTINATIONS_HASH = "khabar:ingest:push-destinations"
MEDIA_BASE = "http://media.example.test/media"


@pytest.fixture(scope="module")
def ingest(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    base = tmp_path_factory.mktemp("superdesk-push")
    process = ingest_process(
        servers, base, key_cache_s=0, bootstrap_push_secret=BOOTSTRAP_SECRET,
        push_secrets_key=ENCRYPTION_KEY, site_time_zone="Asia/Riyadh",
        media_dir=base / "media", media_base_url=MEDIA_BASE, max_media_bytes=200_000,
    )  # fmt: skip
    try:
        yield process
    finally:
        process.group.stop_all()


def superdesk_signature(secret: str, data: bytes) -> str:
    return "sha1=" + hmac.new(str.encode(secret), msg=data, digestmod="sha1").hexdigest()


def push(
    ingest: IngestProcess,
    item: dict[str, Any],
    secret: str | None = BOOTSTRAP_SECRET,
    tamper: bool = False,
) -> httpx.Response:
    data = json.dumps(item)
    headers = {"Content-type": "application/json", "Accept": "application/json"}
    if secret is not None:
        headers["x-superdesk-signature"] = superdesk_signature(secret, data.encode())
    if tamper:
        data = data.replace("body", "bodY")
    with httpx.Client(base_url=ingest.url, timeout=30) as client:
        return client.post("/v1/push/superdesk", content=data.encode(), headers=headers)


def upload(
    ingest: IngestProcess,
    media_id: str,
    content: bytes,
    mimetype: str,
    secret: str | None = BOOTSTRAP_SECRET,
    as_base64: bool = False,
) -> httpx.Response:
    with httpx.Client(base_url=ingest.url, timeout=30) as client:
        if as_base64:
            request = client.build_request(
                "POST",
                "/v1/push/superdesk/assets",
                data={
                    "media_id": media_id,
                    "media": base64.b64encode(content).decode(),
                    "mime_type": mimetype,
                    "filemeta": "{}",
                },
                files={"unused": ("", b"")},
            )
        else:
            request = client.build_request(
                "POST",
                "/v1/push/superdesk/assets",
                data={"media_id": media_id},
                files={"media": (media_id, content, mimetype)},
            )
        body = request.read()
        if secret is not None:
            request.headers["x-superdesk-signature"] = superdesk_signature(secret, body)
        return client.send(request)


def text_item(guid: str, **fields: Any) -> dict[str, Any]:
    return {
        "guid": guid,
        "version": "1",
        "type": "text",
        "priority": 5,
        "pubstatus": "usable",
        "headline": f"Headline of {guid}",
        "body_html": "<p>The story body, pushed.</p>",
        "versioncreated": "2026-03-01T08:00:00+00:00",
        **fields,
    }


def jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def test_unsigned_or_wrongly_signed_pushes_are_401_problems(ingest: IngestProcess) -> None:
    before = ingest.stream_length()
    item = text_item("urn:test:unsigned")
    for answer, says in (
        (push(ingest, item, secret=None), "No x-superdesk-signature"),
        (push(ingest, item, secret="not-the-secret"), "matches no push secret"),
        (push(ingest, item, tamper=True), "matches no push secret"),
    ):
        assert answer.status_code == 401
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["type"] == "urn:khabar:problem:bad-signature"
        assert says in problem["detail"]
    assert ingest.stream_length() == before


def test_a_text_item_with_only_a_guid_is_an_article(ingest: IngestProcess) -> None:
    answer = push(ingest, text_item("tag:example.com,2026:push-1", located="Beirut"))
    assert answer.status_code == 202, answer.text
    event = ingest.events()[-1]
    assert event.article.uri == "tag:example.com,2026:push-1"
    assert event.article_id == answer.json()["article_id"]
    assert event.submitted_by == "push:bootstrap-push"
    assert [place.name for place in event.article.places] == ["Beirut"]
    assert "time_zone_applied" not in answer.json()  # every time had its offset


def test_times_without_an_offset_are_read_in_the_senders_zone(ingest: IngestProcess) -> None:
    answer = push(
        ingest,
        text_item(
            "urn:test:naive-time",
            versioncreated="2026-03-01T12:00:00",
            embargoed="2099-01-01T09:00:00",
        ),
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["time_zone_applied"] == "Asia/Riyadh"
    assert answer.json()["fields_read_in_time_zone"] == ["/embargoed", "/versioncreated"]
    with httpx.Client(base_url=ingest.url, headers={"Authorization": f"Bearer {ingest.key}"}) as c:
        state = c.get(f"/v1/articles/{answer.json()['article_id']}").json()
    assert datetime.fromisoformat(state["embargoed_until"]) == datetime(2099, 1, 1, 6, tzinfo=UTC)


def run_cli(ingest: IngestProcess, *args: str) -> str:
    result = CliRunner().invoke(
        cli,
        ["keys", "push", *args],
        env={
            "KHABAR_REDIS_URL": ingest.redis_url,
            "KHABAR_PUSH_SECRETS_KEY": ENCRYPTION_KEY,
            "COLUMNS": "200",
        },
    )
    assert result.exit_code == 0, result.output
    return result.output


def secret_in(output: str) -> str:
    return re.findall(r"^[A-Za-z0-9_-]{43}$", output, re.MULTILINE)[-1]


def test_secrets_made_with_the_cli_sign_pushes_and_rotate(ingest: IngestProcess) -> None:
    secret = secret_in(run_cli(ingest, "create", "superdesk-beirut", "--time-zone", "Asia/Beirut"))
    with ingest.redis() as client:
        stored = client.hget(PUSH_DESTINATIONS_HASH, "superdesk-beirut")
    assert stored and secret.encode() not in stored  # kept encrypted, never as given
    answer = push(
        ingest,
        text_item("urn:test:cli-secret", versioncreated="2026-03-01T12:00:00"),
        secret=secret,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["time_zone_applied"] == "Asia/Beirut"
    assert ingest.events()[-1].submitted_by == "push:superdesk-beirut"
    assert "superdesk-beirut" in run_cli(ingest, "list")

    new_secret = secret_in(run_cli(ingest, "rotate", "superdesk-beirut", "--grace-minutes", "0"))
    assert push(ingest, text_item("urn:test:rotated"), secret=secret).status_code == 401
    assert push(ingest, text_item("urn:test:rotated"), secret=new_secret).status_code == 202
    run_cli(ingest, "revoke", "superdesk-beirut")
    assert push(ingest, text_item("urn:test:revoked"), secret=new_secret).status_code == 401


def test_assets_are_asked_for_uploaded_verified_and_used_by_pictures(ingest: IngestProcess) -> None:
    media_id = "55b078b31d41c8e974d17ed1"
    with httpx.Client(base_url=ingest.url) as client:
        assert client.get(f"/v1/push/superdesk/assets/{media_id}").status_code == 404
        stored = upload(ingest, media_id, jpeg(), "image/jpeg")
        assert stored.status_code == 201, stored.text
        assert stored.json()["width"] == 64 and stored.json()["mime_type"] == "image/jpeg"
        assert client.get(f"/v1/push/superdesk/assets/{media_id}").status_code == 200

    picture = {
        "guid": "urn:test:picture-1",
        "type": "picture",
        "version": "1",
        "headline": "A red square",
        "description_text": "A red square over Beirut",
        "byline": "Photographer One",
        "copyrightholder": "Agency",
        "renditions": {
            "viewImage": {
                "href": "http://localhost:5000/api/upload/x/raw",
                "media": media_id,
                "mimetype": "image/jpeg",
                "width": 64,
                "height": 48,
            }
        },
    }
    answer = push(ingest, picture)
    assert answer.status_code == 202 and answer.json()["kind"] == "media", answer.text
    # A text item naming the picture by guid only, as a package member or rewrite would.
    text = text_item(
        "urn:test:with-picture",
        associations={"featuremedia": {"guid": "urn:test:picture-1", "type": "picture"}},
    )
    assert push(ingest, text).status_code == 202
    image = ingest.events()[-1].article.featured_image
    assert image is not None
    assert image.href == f"{MEDIA_BASE}/{media_id}"
    assert image.caption == "A red square over Beirut"
    assert image.credit == "Photographer One"


def test_uploads_that_are_not_images_or_lie_are_refused(ingest: IngestProcess) -> None:
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    cases = [
        (upload(ingest, "fake-jpeg", b"<?php echo 1; ?>" * 10, "image/jpeg"), 415, "/media"),
        (upload(ingest, "png-called-jpeg", png.getvalue(), "image/jpeg"), 422, "/mime_type"),
        (upload(ingest, "truncated", jpeg()[:300], "image/jpeg"), 415, "/media"),
        (upload(ingest, "../escape", jpeg(), "image/jpeg"), 422, "/media_id"),
        (upload(ingest, "too-big", jpeg(2000, 2000) + b"\0" * 200_000, "image/jpeg"), 413, None),
        (upload(ingest, "unsigned", jpeg(), "image/jpeg", secret=None), 401, None),
    ]
    for answer, status, where in cases:
        assert answer.status_code == status, answer.text
        if where:
            assert answer.json()["errors"][0]["pointer"] == where
    with httpx.Client(base_url=ingest.url) as client:
        assert client.get("/v1/push/superdesk/assets/fake-jpeg").status_code == 404
    stored = upload(ingest, "as-base64", png.getvalue(), "image/png", as_base64=True)
    assert stored.status_code == 201, stored.text
    assert stored.json()["mime_type"] == "image/png"


def test_a_package_keeps_its_members_order_and_takes_embedded_items(ingest: IngestProcess) -> None:
    package = {
        "guid": "urn:test:package",
        "type": "composite",
        "version": "1",
        "headline": "A package",
        "associations": {
            "main": text_item("urn:test:member-a"),
            "sidebars-0": text_item("urn:test:member-b"),
            "sidebars-1": {"guid": "urn:test:picture-1", "type": "picture"},
        },
    }
    answer = push(ingest, package)
    assert answer.status_code == 202, answer.text
    accepted = [a["article_id"] for a in answer.json()["accepted"]]
    uris = [event.article.uri for event in ingest.events()[-2:]]
    assert uris == ["urn:test:member-a", "urn:test:member-b"]
    assert len(accepted) == 2


def test_a_keys_time_zone_reads_offsetless_times_posted_with_it(ingest: IngestProcess) -> None:
    made = CliRunner().invoke(
        cli,
        ["keys", "create", "cairo-desk", "--time-zone", "Africa/Cairo"],
        env={"KHABAR_REDIS_URL": ingest.redis_url},
    )
    assert made.exit_code == 0, made.output
    key = secret_in(made.output)
    document = {
        "uri": "urn:test:cairo",
        "headline": "Cairo",
        "body_html": "<p>Body.</p>",
        "versioncreated": "2026-07-01T12:00:00",
        "language": "en",
    }
    with ingest.client(key) as client:
        answer = client.post("/v1/articles", json=document)
        batch = client.post("/v1/articles/batch", json=[{**document, "uri": "urn:test:cairo-2"}])
    assert answer.status_code == 202, answer.text
    assert answer.json()["time_zone_applied"] == "Africa/Cairo"
    assert batch.json()["items"][0]["outcome"] == "accepted", batch.text
    cairo = [e.article for e in ingest.events() if e.article.uri.startswith("urn:test:cairo")]
    # 12:00 in Cairo in July (summer time, +03:00) is 09:00 UTC.
    assert [a.versioncreated for a in cairo] == [datetime(2026, 7, 1, 9, tzinfo=UTC)] * 2
    with ingest.client() as client:  # the bootstrap key: the site's zone, Asia/Riyadh
        site = client.post("/v1/articles", json={**document, "uri": "urn:test:riyadh"})
    assert site.json()["time_zone_applied"] == "Asia/Riyadh"


def test_a_package_push_stopped_before_its_members_were_restated_is_repaired_when_resent(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Superdesk pushes an item again when it got no 2xx: that is the package's redelivery."""
    stopping = ingest_process(
        servers, tmp_path_factory.mktemp("package-failpoint"),
        bootstrap_push_secret=BOOTSTRAP_SECRET, failpoints="ingest.package_recorded:1",
    )  # fmt: skip
    try:
        guids = ["urn:newsml:localhost:2026:pkg-a", "urn:newsml:localhost:2026:pkg-b"]
        ids = []
        for n, guid in enumerate(guids):
            answer = push(stopping, {
                "guid": guid, "type": "text", "language": "en", "pubstatus": "usable",
                "headline": f"Member {n}", "body_html": f"<p>Member {n} of the package.</p>",
            })  # fmt: skip
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["article_id"])
        package = {
            "guid": "urn:newsml:localhost:2026:pkg", "type": "composite", "version": "1",
            "headline": "Two members", "pubstatus": "usable",
            "associations": {
                "main": {"guid": guids[1], "type": "text"},
                "sidebars": {"guid": guids[0], "type": "text"},
            },
        }  # fmt: skip
        assert push(stopping, package).status_code == 500  # stopped after its record
        assert not any("story_package" in e.article.extra for e in stopping.events())

        assert push(stopping, package).status_code == 202  # sent again
        latest = {e.article_id: e.article for e in stopping.events()}
        for member in ids:
            assert latest[member].extra["story_package"] == {
                "guid": package["guid"], "headline": "Two members", "members": [ids[1], ids[0]],
            }  # fmt: skip
    finally:
        stopping.group.stop_all()


def test_an_update_of_a_flash_names_the_article_it_follows_up(ingest: IngestProcess) -> None:
    """Superdesk's "update" (`rewrite_of`: the guid of the item it follows, a flash say)."""
    flash = push(ingest, {
        "guid": "urn:newsml:localhost:2026:quake-flash", "type": "text", "urgency": 1,
        "language": "ar", "headline": "عاجل: زلزال يضرب جنوب تركيا",
    })  # fmt: skip
    assert flash.status_code == 202, flash.text
    update = push(ingest, {
        "guid": "urn:newsml:localhost:2026:quake-story", "type": "text", "language": "ar",
        "headline": "زلزال يضرب جنوب تركيا", "body_html": "<p>ضرب زلزال جنوب تركيا.</p>",
        "rewrite_of": "urn:newsml:localhost:2026:quake-flash", "rewrite_sequence": 1,
    })  # fmt: skip
    assert update.status_code == 202, update.text
    article = ingest.events()[-1].article
    assert article.extra["follows_up"] == flash.json()["article_id"]
    assert article.extra["rewrite_of"] == "urn:newsml:localhost:2026:quake-flash"
