"""ninjs → Article: the IPTC examples, khabar's own fields, ids, and never a crash."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar_ingest.formats import InvalidArticle, Limits, article_id_from_uri, parse_ninjs

EXAMPLES = Path("/work/shared/reference/ninjs/examples")
if not EXAMPLES.exists():  # the repository's own checkout of the shared folder
    EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ninjs" / "examples"

TEXT_EXAMPLES = sorted(
    p for p in EXAMPLES.glob("*/*.json") if p.stem.split("_", 1)[1] in {
        "simple_example", "associations_example", "simple_text_article",
        "complex_text_article", "multimedia",
    }
)  # fmt: skip
REFUSED_EXAMPLES = sorted(set(EXAMPLES.glob("*/*.json")) - set(TEXT_EXAMPLES))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_examples_are_all_there():
    assert len(TEXT_EXAMPLES) == 15
    assert len(REFUSED_EXAMPLES) == 7


@pytest.mark.parametrize("path", TEXT_EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_text_example_parses(path):
    document = load(path)
    article = parse_ninjs(document)
    assert article.uri == document["uri"]
    assert article.language == "en"
    if "Dell" in json.dumps(document):
        assert article.headline.startswith("Dell Redefines Workstation")
        assert article.body_html == "[ ... ]"
    else:
        assert article.headline == "Captain of wrecked cruise ship on trial in Italy"
        assert "Francesco Schettino" in article.body_html
        assert article.body_html.startswith("<p>GROSSETO, Italy (AP)")
        assert article.byline == "Paulo Santalucia and Frances d'Emilio"
    assert article.versioncreated.tzinfo is not None


@pytest.mark.parametrize("path", REFUSED_EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_pictures_events_and_headless_items_are_refused_clearly(path):
    with pytest.raises(InvalidArticle) as refused:
        parse_ninjs(load(path))
    pointers = {e.pointer for e in refused.value.errors}
    kind = load(path).get("type")
    if kind in {"picture", "event"}:
        assert "/type" in pointers
        message = next(e.message for e in refused.value.errors if e.pointer == "/type")
        assert repr(kind) in message
    else:
        assert pointers & {"/headline", "/headlines"}


@pytest.mark.parametrize("version", ["1.6", "2.2", "3.1"])
def test_multimedia_example_gets_its_main_picture(version):
    article = parse_ninjs(load(EXAMPLES / version / "007_multimedia.json"))
    image = article.featured_image
    assert image is not None
    assert image.href.endswith("e3b904edbb3a-big.jpg")  # the 'main' rendition, not 'small'
    assert (image.width, image.height) == (429, 281)
    assert image.caption.startswith("The Costa Concordia cruise ship lies on its side")
    assert image.credit.startswith("Copyright 2013 The News Agency")
    assert [p.name for p in article.places] == ["Grossetto", "Tuscany", "Italy"]


def test_the_three_versions_of_one_article_agree():
    articles = [
        parse_ninjs(load(EXAMPLES / v / "005_complex_text_article.json"))
        for v in ("1.6", "2.2", "3.1")
    ]
    assert len({a.id for a in articles}) == 1
    assert len({a.headline for a in articles}) == 1
    assert len({a.versioncreated for a in articles}) == 1
    assert articles[0].places[2].code == "it"
    assert articles[2].places[2].code == "http://cvx.iptc.org/iso3166-1a2/it"


def test_fields_khabar_does_not_model_are_kept_verbatim():
    document = load(EXAMPLES / "1.6" / "005_complex_text_article.json")
    article = parse_ninjs(document)
    assert article.extra["person"] == document["person"]
    assert article.extra["organisation"] == document["organisation"]
    assert article.extra["located"] == "Grossetto, Italy"
    assert "headline_main" not in article.extra
    assert "body_richtext" not in article.extra


def arabic_document(**changes) -> dict:
    document = {
        "uri": "urn:newsroom:2018:rafah-crossing-1",
        "type": "text",
        "versioncreated": "2018-05-12T09:30:00+03:00",
        "headline": "مصر تعيد فتح معبر رفح أمام المسافرين",
        "description_text": "أعادت السلطات المصرية فتح معبر رفح لمدة أربعة أيام.",
        "body_html": "<p>أعادت السلطات المصرية فتح معبر رفح الحدودي مع قطاع غزة.</p>",
        "subject": [{"name": "الشرق الأوسط", "code": "middleEast"}],
        "associations": {
            "featuremedia": {
                "type": "picture",
                "alt_text": "مسافرون عند المعبر",
                "description_text": "مسافرون ينتظرون عند معبر رفح",
                "creditline": "رويترز",
                "renditions": {
                    "thumbnail": {"href": "https://cdn.example/rafah-small.jpg", "width": 120},
                    "original": {
                        "href": "https://cdn.example/rafah.jpg",
                        "width": 1600,
                        "height": 900,
                    },
                },
            }
        },
    }
    document.update(changes)
    return document


def test_an_arabic_article_without_language_is_read_as_arabic():
    article = parse_ninjs(arabic_document())
    assert article.language == "ar"
    assert article.direction == "rtl"
    assert article.lead.startswith("أعادت السلطات المصرية")
    assert article.category == "middle-east"  # from the first subject
    image = article.featured_image
    assert image is not None
    assert (image.href, image.alt, image.caption, image.credit) == (
        "https://cdn.example/rafah.jpg", "مسافرون عند المعبر", "مسافرون ينتظرون عند معبر رفح",
        "رويترز",
    )  # fmt: skip
    assert article.versioncreated == datetime(2018, 5, 12, 6, 30, tzinfo=UTC)


def test_khabar_fields_are_read():
    article = parse_ninjs(arabic_document(
        category="sport", source="alarabia", editor_note="صُحّح اسم الوزير في الفقرة الثانية",
        url="https://www.alarabiya.net/ar/sport/2018/05/12/x.html", language="ar-EG",
        ednote="internal: check the figures",
    ))  # fmt: skip
    assert article.category == "sport"
    assert article.source == "alarabia"
    assert article.editor_note.startswith("صُحّح")
    assert article.url == "https://www.alarabiya.net/ar/sport/2018/05/12/x.html"
    assert article.language == "ar-EG"
    assert article.extra["ednote"] == "internal: check the figures"  # internal, never published


def test_a_plain_text_body_becomes_escaped_paragraphs():
    article = parse_ninjs(
        arabic_document(body_html=None, body_text="سطر أول <b>\n\nسطر ثان & أخير")
    )
    assert article.body_html == "<p>سطر أول &lt;b&gt;</p>\n<p>سطر ثان &amp; أخير</p>"


def test_a_kill_may_come_without_a_body():
    article = parse_ninjs(arabic_document(body_html="", pubstatus="canceled"))
    assert article.pubstatus == "canceled"
    assert not article.is_live


def test_missing_versioncreated_takes_the_receiving_time_when_given():
    received = datetime(2018, 5, 12, 7, 0, tzinfo=UTC)
    article = parse_ninjs(arabic_document(versioncreated=None), received_at=received)
    assert article.versioncreated == received


def test_limits_are_the_callers():
    document = arabic_document()
    parse_ninjs(document, limits=Limits(max_headline_chars=100))
    with pytest.raises(InvalidArticle) as refused:
        parse_ninjs(document, limits=Limits(max_headline_chars=10, max_body_bytes=50))
    assert {e.pointer for e in refused.value.errors} == {"/headline", "/body_html"}


def test_all_problems_are_reported_at_once():
    with pytest.raises(InvalidArticle) as refused:
        parse_ninjs({"uri": "x-1", "headline": 7, "subject": "sport", "versioncreated": "yesterday",
                     "language": "xx", "pubstatus": "draft", "body_html": "<p>t</p>"})  # fmt: skip
    assert [e.pointer for e in refused.value.errors] == [
        "/headline",
        "/pubstatus",
        "/language",
        "/versioncreated",
        "/subject",
    ]


# ---- ids ---------------------------------------------------------------------


def test_a_clean_uri_is_its_own_id():
    assert article_id_from_uri("AL-culture-69-20121011") == "al-culture-69-20121011"


def test_ids_are_stable_short_and_url_safe():
    uri = "http://ninjs.example.com/newsitems/20130709simp123"
    first = article_id_from_uri(uri)
    assert first == article_id_from_uri(uri)
    assert first.startswith("20130709simp123-")
    long_uri = "https://example.com/" + "a" * 500
    assert len(article_id_from_uri(long_uri)) <= 120
    arabic = article_id_from_uri(
        "http://www.alarabiya.net/ar/politics/2012/10/11/فيلم-بن-لادن.html"
    )
    assert arabic.startswith("html-") or len(arabic) == 12
    for made in (
        first,
        arabic,
        article_id_from_uri(long_uri),
        article_id_from_uri("urn:x:Ab Cd/é"),
    ):
        assert all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in made), made


def test_same_last_segment_on_different_sites_gives_different_ids():
    assert article_id_from_uri("https://a.example/news/index") != article_id_from_uri(
        "https://b.example/news/index"
    )


# ---- never any other exception ----------------------------------------------------

# Any code point, lone surrogates included: JSON can spell them ("\\ud800").
any_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=30)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
NINJS_KEYS = [
    "uri", "headline", "headlines", "body_html", "body_text", "bodies", "description_text",
    "descriptions", "versioncreated", "versionCreated", "firstcreated", "embargoed", "pubstatus",
    "language", "subject", "subjects", "place", "associations", "renditions", "byline", "by",
    "type", "urgency", "version", "category", "url", "source", "editor_note", "headline_main",
]  # fmt: skip
plausible_values = st.one_of(
    json_values,
    st.sampled_from(
        ["2018-05-12T09:30:00+03:00", "2018-05-12T09:30:00", "ar", "en-GB", "usable", "text"]
    ),
    st.lists(
        st.fixed_dictionaries({}, optional={"name": json_values, "value": json_values,
                                            "href": json_values, "role": json_values}),
        max_size=3,
    ),
)  # fmt: skip
ninjs_like = (
    st.dictionaries(st.sampled_from(NINJS_KEYS), plausible_values, max_size=12) | json_values
)


@settings(max_examples=400, deadline=None)
@given(ninjs_like)
def test_parse_ninjs_returns_an_article_or_raises_invalid_article(document):
    try:
        article = parse_ninjs(document)
    except InvalidArticle as refused:
        assert refused.errors
        assert all(e.pointer == "" or e.pointer.startswith("/") for e in refused.errors)
    else:
        assert article.headline and article.id
        assert article.model_dump_json()  # what ingest writes to the stream must serialize


def _web_url_by_urlsplit(value: str) -> bool:
    """What `is_web_url` answered before its fast path: urlsplit's reading, always."""
    from urllib.parse import urlsplit

    from khabar_ingest.formats.checks import has_line_controls

    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and not has_line_controls(value)


@settings(max_examples=500)
@given(
    st.sampled_from(["http://", "https://", "HTTP://", " http://", "http:/", "", "ftp://"]),
    st.text(alphabet="ab1.:/?#[]@% \t\nä\u200f\x85", max_size=20),
)
def test_web_url_check_agrees_with_urlsplit(prefix: str, rest: str) -> None:
    from khabar_ingest.formats.checks import is_web_url

    assert is_web_url(prefix + rest) == _web_url_by_urlsplit(prefix + rest)
