"""Bad documents and the answer each gets: status and the JSON Pointer it names.

Status rule: 400 when the body is not JSON at all, 422 when it is JSON but not
an acceptable article. Each row names one field; the answer must name it too.
"""

import json
from typing import Any

import pytest

from khabar_ingest.formats import InvalidArticle, Limits, MalformedDocument, parse_ninjs_json
from khabar_ingest.formats.ninjs import read_ninjs
from khabar_ingest.problems import (
    PROBLEM_MEDIA_TYPE,
    ProblemDetails,
    conflict,
    forbidden,
    invalid_article,
    malformed_body,
    not_found,
    payload_too_large,
    too_many_requests,
    unauthorized,
    unsupported_media_type,
)
from tests.support import DROP, with_changes

LIMITS = Limits(
    max_headline_chars=120, max_body_bytes=20_000, max_lead_chars=500, max_byline_chars=80
)

LEAD = "نجح العلماء في اختبار أول دواء قادر على علاج الذهان المرتبط بمرض الزهايمر."
GOOD: dict[str, Any] = {
    "uri": "urn:newsroom:sky:1021743",
    "type": "text",
    "language": "ar",
    "versioncreated": "2018-02-14T11:37:34+00:00",
    "firstcreated": "2018-02-14T11:30:00+00:00",
    "headline": "أول دواء لعلاج الذهان المرتبط بالزهايمر",
    "description_text": LEAD,
    "body_html": f"<p>{LEAD}</p>",
    "byline": "أبوظبي - سكاي نيوز عربية",
    "subject": [{"name": "technology", "code": "medtop:13000000"}],
    "associations": {
        "featuremedia": {
            "type": "picture",
            "renditions": {"original": {"href": "https://cdn.example/alz.jpg", "width": 1200}},
        }
    },
}


def changed(**changes: Any) -> dict[str, Any]:
    return with_changes(GOOD, **changes)


def picture(**fields: Any) -> dict[str, Any]:
    """The good document with these fields on its featured picture."""
    featured = {**GOOD["associations"]["featuremedia"], **fields}
    return changed(associations={"featuremedia": featured})


LONG_BODY = "<p>" + "كلمة " * 5000 + "</p>"

# (name, body, status, pointer)
CASES: list[tuple[str, bytes | dict[str, Any] | list[Any], int, str]] = [
    ("not json", b"{headline: nope}", 400, ""),
    ("truncated json", b'{"uri": "a-1", "headline": "x"', 400, ""),
    ("empty body", b"", 400, ""),
    ("html instead of json", b"<html><body>hi</body></html>", 400, ""),
    ("a json list", [GOOD], 422, ""),
    ("a json string", b'"just a string"', 422, ""),
    ("missing uri", changed(uri=DROP), 422, "/uri"),
    ("empty uri", changed(uri=""), 422, "/uri"),
    ("uri a number", changed(uri=42), 422, "/uri"),
    ("uri with spaces", changed(uri="my article 1"), 422, "/uri"),
    ("uri too long", changed(uri="urn:x:" + "a" * 2000), 422, "/uri"),
    # The picture's words are copied into every card that shows the article.
    ("image caption too long", picture(caption="ص" * 1001), 422,
     "/associations/featuremedia/caption"),
    ("image alt text too long", picture(alt_text="ص" * 501), 422,
     "/associations/featuremedia/alt_text"),
    ("image caption too long to stand as alt text", picture(description_text="ص" * 600), 422,
     "/associations/featuremedia/description_text"),
    ("image credit too long", picture(creditline="ص" * 301), 422,
     "/associations/featuremedia/creditline"),
    ("image caption in descriptions too long",
     picture(descriptions=[{"value": "ص" * 1001}], alt_text="صورة"), 422,
     "/associations/featuremedia/descriptions/0/value"),
    ("rendition mimetype too long", changed(associations={"featuremedia": {
        "type": "picture", "renditions": {"original": {
            "href": "https://cdn.example/a.jpg", "mimetype": "image/" + "x" * 200}}}}), 422,
     "/associations/featuremedia/renditions/original/mimetype"),
    ("missing headline", changed(headline=DROP), 422, "/headline"),
    ("empty headline", changed(headline="   "), 422, "/headline"),
    ("headline a number", changed(headline=2018), 422, "/headline"),
    ("headline null", changed(headline=None), 422, "/headline"),
    ("headline too long", changed(headline="خبر " * 100), 422, "/headline"),
    ("headlines not a list", changed(headline=DROP, headlines="عنوان"), 422, "/headlines"),
    ("headlines item without value", changed(headline=DROP, headlines=[{"role": "main"}]), 422,
     "/headlines/0/value"),
    ("headlines empty list", changed(headline=DROP, headlines=[]), 422, "/headlines"),
    ("missing body", changed(body_html=DROP), 422, "/body_html"),
    ("empty body", changed(body_html=""), 422, "/body_html"),
    ("body a list", changed(body_html=["<p>x</p>"]), 422, "/body_html"),
    ("body too large", changed(body_html=LONG_BODY), 422, "/body_html"),
    ("bodies item a string", changed(body_html=DROP, bodies=["<p>x</p>"]), 422, "/bodies/0"),
    ("lead too long", changed(description_text="جملة " * 200), 422, "/description_text"),
    ("lead a number", changed(description_text=3), 422, "/description_text"),
    ("missing versioncreated", changed(versioncreated=DROP), 422, "/versioncreated"),
    (
        "3.x missing versionCreated",
        changed(versioncreated=DROP, copyrightNotice="(c) 2018 Sky News Arabia"),
        422,
        "/versionCreated",
    ),
    ("versioncreated yesterday", changed(versioncreated="yesterday"), 422, "/versioncreated"),
    ("versioncreated without offset", changed(versioncreated="2018-02-14T11:37:34"), 422,
     "/versioncreated"),
    ("versioncreated a number", changed(versioncreated=1518608254), 422, "/versioncreated"),
    ("versioncreated impossible date", changed(versioncreated="2018-02-30T10:00:00Z"), 422,
     "/versioncreated"),
    ("firstcreated without offset", changed(firstcreated="2018-02-14"), 422, "/firstcreated"),
    ("embargoed garbage", changed(embargoed="soon"), 422, "/embargoed"),
    ("unknown language xx", changed(language="xx"), 422, "/language"),
    ("language not a tag", changed(language="arabic"), 422, "/language"),
    ("language with bad region", changed(language="en-GBR1"), 422, "/language"),
    ("language a list", changed(language=["ar"]), 422, "/language"),
    ("pubstatus draft", changed(pubstatus="draft"), 422, "/pubstatus"),
    ("pubstatus cancelled spelled british", changed(pubstatus="cancelled"), 422, "/pubstatus"),
    ("pubStatus 3.x wrong", changed(pubStatus=True), 422, "/pubStatus"),
    ("subject not a list", changed(subject="sport"), 422, "/subject"),
    ("subject item a string", changed(subject=["sport"]), 422, "/subject/0"),
    ("subject without name or code", changed(subject=[{"rel": "about"}]), 422, "/subject/0/name"),
    ("subject name a number", changed(subject=[{"name": 5}]), 422, "/subject/0/name"),
    ("place not a list", changed(place={"name": "غزة"}), 422, "/place"),
    ("too many subjects", changed(subject=[{"name": f"s{i}"} for i in range(300)]), 422,
     "/subject"),
    ("byline a list", changed(byline=["a", "b"]), 422, "/byline"),
    ("byline too long", changed(byline="كاتب " * 40), 422, "/byline"),
    ("place code too long", changed(place=[{"name": "غزة", "code": "x" * 1001}]), 422,
     "/place/0/code"),
    ("subject scheme a number", changed(subject=[{"name": "a", "scheme": 3}]), 422,
     "/subject/0/scheme"),
    ("picture type", changed(type="picture"), 422, "/type"),
    ("type a number", changed(type=1), 422, "/type"),
    ("urgency out of range", changed(urgency=12), 422, "/urgency"),
    ("urgency a string", changed(urgency="high"), 422, "/urgency"),
    ("version an object", changed(version={"n": 1}), 422, "/version"),
    ("category not a slug", changed(category="!!!"), 422, "/category"),
    ("category a number", changed(category=7), 422, "/category"),
    ("url not http", changed(url="javascript:alert(1)"), 422, "/url"),
    ("url relative", changed(url="/ar/sport/1.html"), 422, "/url"),
    ("associations a string", changed(associations="photo.jpg"), 422, "/associations"),
    (
        "featuremedia href not a url",
        changed(associations={"featuremedia": {"renditions": {"original": {"href": "photo.jpg"}}}}),
        422,
        "/associations/featuremedia/renditions/original/href",
    ),
    (
        "3.x rendition href a number",
        changed(associations=[
            {"name": "featuremedia", "uri": "x", "renditions": [{"name": "main", "href": 5}]}
        ]),
        422,
        "/associations/0/renditions/0/href",
    ),
    (
        "rendition width a string",
        changed(associations={"featuremedia": {"renditions": {
            "main": {"href": "https://c.example/a.jpg", "width": "wide"}
        }}}),
        422,
        "/associations/featuremedia/renditions/main/width",
    ),
    ("lone surrogate in headline", b'{"uri": "a-1", "headline": "x\\ud800"}', 422, "/headline"),
    ("editor_note a number", changed(editor_note=1), 422, "/editor_note"),
]  # fmt: skip


def answer(body: bytes | dict[str, Any] | list[Any]) -> ProblemDetails | None:
    """What the HTTP layer does with a request body: an article, or a problem."""
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    try:
        parse_ninjs_json(data, limits=LIMITS)
    except MalformedDocument as error:
        return malformed_body(error, instance="/v1/articles")
    except InvalidArticle as error:
        return invalid_article(error, instance="/v1/articles")
    return None


def test_the_table_is_big_enough_and_the_base_document_is_good():
    assert len(CASES) >= 40
    assert answer(GOOD) is None


@pytest.mark.parametrize(("name", "body", "status", "where"), CASES, ids=[c[0] for c in CASES])
def test_bad_document_gets_a_problem_naming_its_field(name, body, status, where):
    problem = answer(body)
    assert problem is not None, f"{name} was accepted"
    assert problem.status == status
    sent = json.loads(json.dumps(problem.body()))
    assert (
        sent["status"] == status
        and sent["title"]
        and sent["type"].startswith("urn:khabar:problem:")
    )
    if status == 400:
        assert "errors" not in sent and sent["detail"]
    else:
        pointers = [e["pointer"] for e in sent["errors"]]
        assert where in pointers, f"{name}: expected {where!r}, got {pointers}"
        assert all(e["detail"] for e in sent["errors"])


def test_a_document_with_many_faults_gets_them_all_in_one_answer():
    problem = answer(changed(headline=DROP, language="xx", versioncreated="yesterday", subject="x"))
    assert problem is not None
    assert {e.pointer for e in problem.errors} == {
        "/headline",
        "/language",
        "/versioncreated",
        "/subject",
    }
    assert problem.detail == "4 fields need fixing"


def test_other_problems_have_their_status_and_headers():
    cases = [
        (unauthorized(), 401, {"WWW-Authenticate"}),
        (forbidden("wire-robot", "withdraw articles"), 403, set()),
        (not_found("al-sport-1-20180101"), 404, set()),
        (conflict("al-sport-1-20180101", "versioncreated is older than the stored one",
                  current_version=3),
         409, set()),
        (payload_too_large(3_000_000, 1_000_000), 413, set()),
        (unsupported_media_type("text/plain"), 415, {"Accept-Post"}),
        (too_many_requests(30), 429, {"Retry-After"}),
    ]  # fmt: skip
    for problem, status, headers in cases:
        assert problem.status == status
        assert set(problem.headers) == headers
        assert "headers" not in problem.body()
    assert too_many_requests(30).headers["Retry-After"] == "30"
    assert "al-sport-1-20180101" in not_found("al-sport-1-20180101").body()["detail"]
    assert "stored version is 3" in conflict("a", "b", current_version=3).detail
    assert PROBLEM_MEDIA_TYPE == "application/problem+json"


# Careless but harmless text: cleaned, accepted, and each cleaning named by pointer.
# (name, document, pointer, what the field reads after)
CLEANED: list[tuple[str, dict[str, Any], str, Any]] = [
    ("tab and line break inside a headline", changed(headline="عاجل:\tخبر\r\n  مهم"),
     "/headline", lambda a: a.headline == "عاجل: خبر مهم"),
    ("stray control character in a headline", changed(headline="عاجل\x1a خبر"),
     "/headline", lambda a: a.headline == "عاجل خبر"),
    ("scraped control character in a body", changed(body_html="<p>a\x1ab\x00c</p>"),
     "/body_html", lambda a: a.body_html == "<p>abc</p>"),
    ("control character in a byline", changed(byline="كاتب\x1b"),
     "/byline", lambda a: a.byline == "كاتب"),
    ("control character in an editor note", changed(editor_note="صُحّح\x00\nأمس"),
     "/editor_note", lambda a: a.editor_note == "صُحّح\nأمس"),
    ("control character in a subject name", changed(subject=[{"name": "رياضة\x07"}]),
     "/subject/0/name", lambda a: a.subjects[0].name == "رياضة"),
    ("line break in a 2.x headline", changed(headline=DROP, headlines=[{"value": "سطر\nسطر"}]),
     "/headlines/0/value", lambda a: a.headline == "سطر سطر"),
    ("line break and control character in a caption", picture(caption="صورة\nمن\x1a الحدث"),
     "/associations/featuremedia/caption",
     lambda a: a.featured_image.caption == "صورة من الحدث"),
    ("tab in an alt text", picture(alt_text="صورة\tالحدث"),
     "/associations/featuremedia/alt_text",
     lambda a: a.featured_image.alt == "صورة الحدث"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "document", "where", "reads"), CLEANED, ids=[c[0] for c in CLEANED]
)
def test_careless_text_is_cleaned_and_the_cleaning_named(name, document, where, reads):
    reading = read_ninjs(document, limits=LIMITS)
    assert reads(reading.article), f"{name}: not cleaned as expected"
    assert where in [item.pointer for item in reading.cleaned]
    assert all(item.detail for item in reading.cleaned)


def test_clean_text_is_not_reported() -> None:
    assert read_ninjs(GOOD, limits=LIMITS).cleaned == []
