"""Newsroom clients as they are, through the whole system: pushed by Superdesk, read by readers.

The four services run (the Superdesk replay's system: ingest with a push secret and a
media directory, enrich, search, render); items are pushed signed, as Superdesk's
`http_push` transmitter sends them, and checked where readers meet them: search and pages.
"""

import io
from typing import Any

import httpx
from PIL import Image

from tests.conftest import System
from tests.integration.test_superdesk_replay import push_item, push_media, system
from tests.support import eventually

__all__ = ["system"]  # the replay's module fixture: the system with a push secret


def search_ids(system: System, query: str) -> list[str]:
    answer = httpx.get(f"{system.search_url}/v1/search", params={"q": query}, timeout=10)
    assert answer.status_code == 200, answer.text
    return [hit["id"] for hit in answer.json()["hits"]]


def jpeg() -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(picture, "JPEG")
    return picture.getvalue()


def picture_item(guid: str, media_id: str, caption: str, credit: str) -> dict[str, Any]:
    """A picture as Superdesk's formatter pushes it on its own, before the story naming it."""
    return {
        "guid": guid,
        "version": "1",
        "type": "picture",
        "priority": 5,
        "pubstatus": "usable",
        "headline": "Lake",
        "description_text": caption,
        "byline": credit,
        "renditions": {
            "viewImage": {
                "href": f"http://localhost:5000/api/upload/{media_id}/raw",
                "media": media_id,
                "mimetype": "image/jpeg",
                "width": 64,
                "height": 48,
            }
        },
    }


def text_item(guid: str, headline: str, body: str, **more: Any) -> dict[str, Any]:
    return {
        "guid": guid,
        "version": "1",
        "type": "text",
        "priority": 5,
        "pubstatus": "usable",
        "language": "en",
        "headline": headline,
        "body_html": f"<p>{body}</p>",
        **more,
    }


def test_a_word_of_a_pictures_caption_finds_the_story_it_illustrates(system: System) -> None:
    media_id = "66c0a1b2c3d4e5f60718293a"
    assert push_media(system, media_id, jpeg(), "image/jpeg") == 201
    picture = picture_item(
        "urn:newsml:localhost:2026:flamingo-picture",
        media_id,
        caption="Flamingos crowd the shrinking salt lake at dusk",
        credit="Jane Roe",
    )
    assert push_item(system, picture).status_code == 202
    story = text_item(
        "urn:newsml:localhost:2026:drought-story",
        "Drought lowers the lake to a record",
        "The water level fell by two metres this summer, the ministry said.",
        associations={"featuremedia": {"guid": picture["guid"], "type": "picture"}},
    )
    answer = push_item(system, story)
    assert answer.status_code == 202, answer.text
    story_id = answer.json()["article_id"]

    assert eventually(lambda: story_id in search_ids(system, "drought"), timeout_s=60)
    assert story_id in search_ids(system, "flamingos")  # a word only the caption has
    assert story_id in search_ids(system, "Jane Roe")  # and the credit
