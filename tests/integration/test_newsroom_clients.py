"""Newsroom clients as they are, through the whole system: pushed by Superdesk, read by readers.

The four services run (the Superdesk replay's system: ingest with a push secret and a
media directory, enrich, search, render); items are pushed signed, as Superdesk's
`http_push` transmitter sends them, and checked where readers meet them: search and pages.
"""

import io
import re
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


def package_ids(html: str) -> list[str]:
    match = re.search(r'<section class="story-package".*?</section>', html, re.DOTALL)
    return re.findall(r'data-article-id="([^"]+)"', match.group(0)) if match else []


def page_of(system: System, article_id: str) -> str:
    answer = httpx.get(f"{system.render_url}/articles/{article_id}", timeout=10)
    return answer.text if answer.status_code == 200 else ""


def package_item(guid: str, version: int, members: list[str], **more: Any) -> dict[str, Any]:
    """A composite as `_get_associations` writes it: one association per group ref, in order."""
    return {
        "guid": guid,
        "version": str(version),
        "type": "composite",
        "priority": 5,
        "pubstatus": "usable",
        "headline": "Storm over the coast",
        "associations": {
            ("main" if n == 0 else f"sidebars-{n - 1}"): {"guid": member, "type": "text"}
            for n, member in enumerate(members)
        },
        **more,
    }


def test_a_package_is_a_story_package_block_on_its_members_pages_in_superdesk_s_order(
    system: System,
) -> None:
    guids = [f"urn:newsml:localhost:2026:storm-{n}" for n in range(4)]
    ids = []
    for n, guid in enumerate(guids[:3]):
        answer = push_item(system, text_item(guid, f"Storm story {n}", f"Part {n} of the storm."))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["article_id"])
    first, second, third = ids
    package = "urn:newsml:localhost:2026:storm-package"

    answer = push_item(system, package_item(package, 1, [guids[1], guids[0], guids[2]]))
    assert answer.status_code == 202, answer.text
    for member in ids:  # every member's page, in the package's order
        eventually(lambda m=member: package_ids(page_of(system, m)) == [second, first, third])

    # Version 2: the first story leaves, a story not yet pushed joins; it gets the block when
    # it comes.
    answer = push_item(system, package_item(package, 2, [guids[2], guids[1], guids[3]]))
    assert answer.status_code == 202, answer.text
    eventually(lambda: package_ids(page_of(system, first)) == [])
    eventually(lambda: package_ids(page_of(system, second)) == [third, second])
    late = push_item(system, text_item(guids[3], "Storm story 3", "Part 3 of the storm."))
    assert late.status_code == 202, late.text
    fourth = late.json()["article_id"]
    eventually(lambda: package_ids(page_of(system, fourth)) == [third, second, fourth])
    eventually(lambda: package_ids(page_of(system, second)) == [third, second, fourth])

    # Withdrawn: the block leaves every member's page.
    answer = push_item(
        system, package_item(package, 3, [guids[2], guids[1], guids[3]], pubstatus="canceled")
    )
    assert answer.status_code == 202, answer.text
    for member in (second, third, fourth):
        eventually(lambda m=member: page_of(system, m) and package_ids(page_of(system, m)) == [])
