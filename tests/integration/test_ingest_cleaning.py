"""Careless text through a real ingest process: cleaned, accepted, and each cleaning said back.

A tab or line break inside a headline and a scraped control character in a
body used to refuse the whole article (422); imports lost real news over an
invisible character. A picture's words, copied into every card, are limited.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Servers
from tests.integration.ingest_fixtures import IngestProcess, ingest_process
from tests.support import real_articles, to_ninjs

RECORDS = real_articles(6)
PICTURE = "/associations/featuremedia"


@pytest.fixture(scope="module")
def ingest(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    process = ingest_process(servers, tmp_path_factory.mktemp("ingest-cleaning"))
    yield process
    process.group.stop_all()


def careless(record: int) -> dict[str, Any]:
    document = to_ninjs(RECORDS[record])
    return document | {
        "headline": document["headline"].replace(" ", "\t", 1) + "\r\n ",
        "body_html": document["body_html"].replace(" ", " \x1a", 1),
    }


def test_a_careless_article_is_cleaned_and_the_answer_names_each_cleaning(
    ingest: IngestProcess,
) -> None:
    with ingest.client() as client:
        answer = client.post("/v1/articles", json=careless(0))
        assert answer.status_code == 202, answer.text
        cleaned = answer.json()["cleaned"]
        assert {item["pointer"] for item in cleaned} == {"/headline", "/body_html"}
        assert all(item["detail"] for item in cleaned)
        stored = [e for e in ingest.events() if e.article_id == answer.json()["article_id"]][-1]
    assert "\t" not in stored.article.headline and "\x1a" not in stored.article.body_html
    assert stored.article.headline == " ".join(careless(0)["headline"].split())


def test_a_clean_article_gets_no_cleaned_list(ingest: IngestProcess) -> None:
    with ingest.client() as client:
        answer = client.post("/v1/articles", json=to_ninjs(RECORDS[1]))
    assert answer.status_code == 202 and "cleaned" not in answer.json()


def test_batch_items_say_what_was_cleaned_in_each(ingest: IngestProcess) -> None:
    items = [careless(2), to_ninjs(RECORDS[3]), {"article": careless(4), "base_version": 0}]
    with ingest.client() as client:
        answer = client.post("/v1/articles/batch", json=items)
    assert answer.status_code == 200, answer.text
    first, second, third = answer.json()["items"]
    assert [i["outcome"] for i in (first, second, third)] == ["accepted"] * 3
    assert {item["pointer"] for item in first["cleaned"]} == {"/headline", "/body_html"}
    assert second["cleaned"] is None
    assert {item["pointer"] for item in third["cleaned"]} == {
        "/article/headline",
        "/article/body_html",
    }


@pytest.mark.parametrize(
    ("field", "chars"), [("alt_text", 1_500_000), ("caption", 5_000), ("creditline", 2_000)]
)
def test_a_pictures_words_have_a_length_limit(
    ingest: IngestProcess, field: str, chars: int
) -> None:
    document = to_ninjs(RECORDS[5])
    document["associations"] = {
        "featuremedia": {
            "type": "picture",
            "renditions": {"original": {"href": "https://cdn.example/a.jpg"}},
            field: "a" * chars,
        }
    }  # 1.5 MB of alt text fits in a 2 MB request
    with ingest.client() as client:
        answer = client.post(
            "/v1/articles",
            content=json.dumps(document).encode(),
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 422, answer.text[:200]
    assert f"{PICTURE}/{field}" in [error["pointer"] for error in answer.json()["errors"]]


def test_the_openapi_schema_states_the_limits(ingest: IngestProcess) -> None:
    with ingest.client() as client:
        schema = client.get(f"{ingest.ops_url}/openapi.json").json()["components"]["schemas"]
    ninjs = schema["NinjsDocument"]["properties"]
    assert ninjs["headline"]["maxLength"] > 0 and ninjs["byline"]["maxLength"] > 0
    picture = ninjs["associations"]["additionalProperties"]["properties"]
    assert {"caption", "alt_text", "creditline"} <= set(picture)
    assert all(picture[name]["maxLength"] > 0 for name in ("caption", "alt_text", "creditline"))
    assert "cleaned" in schema["PostAnswer"]["properties"]


RAW_RECORDS = real_articles(9)[6:]  # articles no other test here sends


def raw_controls(record: int) -> bytes:
    """A body whose strings hold raw control bytes (invalid JSON: they must be escaped)."""
    document = to_ninjs(RAW_RECORDS[record])
    text = json.dumps(document, ensure_ascii=False)
    headline = json.dumps(document["headline"], ensure_ascii=False)
    body = json.dumps(document["body_html"], ensure_ascii=False)
    text = text.replace(headline, headline[:-1] + "\x01\t" + '"', 1)
    text = text.replace(body, body.replace(" ", " \x1a", 1), 1)
    assert "\x01" in text and "\x1a" in text
    return text.encode()


def test_a_raw_control_byte_in_a_string_is_cleaned_and_named_not_refused(
    ingest: IngestProcess,
) -> None:
    """The newsroom's rule: a stray control character is cleaned and reported, never the
    reason an article is lost (strict JSON refused the body with a 400 naming no field)."""
    headers = {"Content-Type": "application/json"}
    with ingest.client() as client:
        answer = client.post("/v1/articles", content=raw_controls(0), headers=headers)
        assert answer.status_code == 202, answer.text
        assert {item["pointer"] for item in answer.json()["cleaned"]} == {
            "/headline",
            "/body_html",
        }
        article_id = answer.json()["article_id"]
        batch = client.post(
            "/v1/articles/batch", content=b"[" + raw_controls(1) + b"]", headers=headers
        )
        assert batch.status_code == 200, batch.text
        (item,) = batch.json()["items"]
        assert item["outcome"] == "accepted", item
        assert {c["pointer"] for c in item["cleaned"]} == {"/headline", "/body_html"}
        # The uri names the article: a control character there is refused, by pointer.
        document = to_ninjs(RAW_RECORDS[2])
        bad_uri = json.dumps(document, ensure_ascii=False).replace(
            document["uri"], document["uri"] + "\x01", 1
        )
        refused = client.post("/v1/articles", content=bad_uri.encode(), headers=headers)
        assert refused.status_code == 422, refused.text
        assert "/uri" in [error["pointer"] for error in refused.json()["errors"]]
    stored = [e for e in ingest.events() if e.article_id == article_id][-1]
    assert "\x01" not in stored.article.headline and "\t" not in stored.article.headline
    assert "\x1a" not in stored.article.body_html


def test_a_headline_of_control_characters_alone_is_refused_saying_they_were_removed(
    ingest: IngestProcess,
) -> None:
    """Cleaning leaves such a headline empty; the refusal used to say only that a headline is
    needed, as if none had been sent."""
    document = to_ninjs(RAW_RECORDS[2]) | {"headline": "\x1a\x07\x1a"}
    with ingest.client() as client:
        before = ingest.stream_length()
        refused = client.post("/v1/articles", json=document)
        assert refused.status_code == 422, refused.text
        (error,) = [e for e in refused.json()["errors"] if e["pointer"] == "/headline"]
        assert "needs a headline" in error["detail"], error
        assert "3 control character(s) removed" in error["detail"], error
        assert ingest.stream_length() == before
