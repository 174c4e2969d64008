"""NewsML-G2 text items at `POST /v1/articles`, through a real ingest process.

The IPTC's own examples (tests/data/newsml, CC BY 4.0), an Arabic XHTML item
with its variants (embargo, `stat:canceled`), and hostile XML that must be
refused unread: billion laughs, external entities, network DTDs.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import Servers
from tests.integration.ingest_fixtures import IngestProcess, ingest_process

DATA = Path(__file__).resolve().parents[1] / "data/newsml"
NEWSITEM = "application/vnd.iptc.g2.newsitem+xml"
ARABIC = (DATA / "xhtml-arabic-item.xml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ingest(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    process = ingest_process(
        servers, tmp_path_factory.mktemp("ingest-newsml"), site_time_zone="Asia/Beirut"
    )
    try:
        yield process
    finally:
        process.group.stop_all()


def post_xml(
    ingest: IngestProcess, body: str | bytes, content_type: str = NEWSITEM
) -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    with ingest.client() as client:
        return client.post("/v1/articles", content=data, headers={"Content-Type": content_type})


def test_the_iptc_text_example_becomes_an_article(ingest: IngestProcess) -> None:
    answer = post_xml(ingest, (DATA / "LISTING_2_NewsML-G2_Text_Document.xml").read_bytes())
    assert answer.status_code == 202, answer.text
    article = ingest.events()[-1].article
    assert article.uri == "urn:newsml:acmenews.com:20161121:US-FINANCE-FED"
    assert article.headline == 'Fed to halt QE to avert "bubble"'
    assert article.body_html.startswith("<p>(New York, NY - October 21) Et, sent luptat")
    assert article.body_html.count("<p>") == 2
    assert article.language == "en-US"
    assert article.versioncreated == datetime(2018, 11, 21, 21, 25, 32, tzinfo=UTC)
    assert [s.code for s in article.subjects] == [
        "medtop:04000000",
        "medtop:20000350",
        "medtop:20000379",
    ]
    assert [p.name for p in article.places] == ["New York, NY"]
    assert article.byline == "Meredith Jameson"
    assert article.source == "Associated Press"
    assert article.extra["version"] == "11"


def test_an_item_without_a_body_is_refused_at_its_xml_path(ingest: IngestProcess) -> None:
    before = ingest.stream_length()
    answer = post_xml(
        ingest,
        (DATA / "LISTING_1_A_NewsML-G2_News_Item.xml").read_bytes(),
        content_type="application/xml",
    )
    assert answer.status_code == 422, answer.text
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/newsItem/contentSet"]
    assert ingest.stream_length() == before


def test_xhtml_body_zone_embargo_and_withdrawal(ingest: IngestProcess) -> None:
    answer = post_xml(ingest, ARABIC)
    assert answer.status_code == 202, answer.text
    assert answer.json()["time_zone_applied"] == "Asia/Beirut"
    article = ingest.events()[-1].article
    assert article.headline == "لبنان يحدد موعد الانتخابات البلدية"
    assert article.lead == "أعلنت الحكومة اللبنانية موعد الانتخابات البلدية."
    assert "<b>الانتخابات البلدية</b>" in article.body_html and "<title>" not in article.body_html
    assert "xmlns" not in article.body_html and "html:" not in article.body_html
    assert article.versioncreated == datetime(2026, 3, 1, 10, tzinfo=UTC)  # 12:00 in Beirut
    assert [p.name for p in article.places] == ["بيروت"]
    assert article.extra["genre"] == [{"name": "خبر", "code": "genre:Current", "scheme": "genre"}]
    assert article.extra["urgency"] == 3 and article.extra["ednote"] == "للمحررين فقط"

    embargoed = ARABIC.replace(
        "<pubStatus", "<embargoed>2099-01-01T00:00:00Z</embargoed><pubStatus"
    )
    held = post_xml(ingest, embargoed.replace('version="3"', 'version="4"'))
    assert held.status_code == 202 and held.json()["status"] == "embargoed", held.text

    killed = post_xml(ingest, ARABIC.replace("stat:usable", "stat:canceled"))
    assert killed.status_code == 202, killed.text
    assert killed.json()["status"] == "canceled"
    assert ingest.events()[-1].article.pubstatus == "canceled"


def test_stray_control_characters_are_cleaned_and_reported_as_in_json(
    ingest: IngestProcess,
) -> None:
    # XML 1.0 forbids them, so a scraped \x1a used to make the whole item not well-formed
    # (400 malformed-xml, naming a line and column) where the same text as ninjs is cleaned.
    headline = "لبنان يحدد موعد الانتخابات البلدية"
    careless = (
        ARABIC.replace('guid="', 'guid="controls-', 1)
        .replace(headline, "لبنان يحدد\x1a موعد\x07 الانتخابات البلدية", 1)
        .replace("</p>", "\x0b</p>", 1)
    )
    assert careless != ARABIC and "\x1a" in careless
    answer = post_xml(ingest, careless)
    assert answer.status_code == 202, answer.text
    cleaned = {c["pointer"]: c["detail"] for c in answer.json()["cleaned"]}
    assert "2 control character(s) removed" in cleaned[next(p for p in cleaned if "headline" in p)]
    assert any("body" in pointer or "contentSet" in pointer for pointer in cleaned), cleaned
    article = ingest.events()[-1].article
    assert article.headline == headline
    assert "\x0b" not in article.body_html and "<b>الانتخابات البلدية</b>" in article.body_html

    # Anything else wrong still names the sender's own bytes, controls or not.
    broken = post_xml(ingest, careless.replace("</contentMeta>", "", 1))
    assert broken.status_code == 400, broken.text
    assert broken.json()["type"] == "urn:khabar:problem:malformed-xml"


def test_control_characters_written_as_references_are_cleaned_and_reported(
    ingest: IngestProcess,
) -> None:
    # XML 1.0 forbids `&#x1a;` as it forbids a raw \x1a: the item used to be refused
    # (400 malformed-xml) where the same raw byte is cleaned and reported by field.
    headline = "لبنان يحدد موعد الانتخابات البلدية"
    careless = (
        ARABIC.replace('guid="', 'guid="references-', 1)
        .replace(headline, "لبنان يحدد&#x1a; موعد&#7; الانتخابات البلدية", 1)
        .replace("</p>", "&#x0B;&#xA;</p>", 1)
    )
    answer = post_xml(ingest, careless)
    assert answer.status_code == 202, answer.text
    cleaned = {c["pointer"]: c["detail"] for c in answer.json()["cleaned"]}
    assert "2 control character(s) removed" in cleaned[next(p for p in cleaned if "headline" in p)]
    assert any("body" in pointer or "contentSet" in pointer for pointer in cleaned), cleaned
    article = ingest.events()[-1].article
    assert article.headline == headline
    assert "\x0b" not in article.body_html and "<b>الانتخابات البلدية</b>" in article.body_html

    # In a CDATA section `&#x1a;` is no reference but text, and stays the text sent.
    verbatim = careless.replace('guid="references-', 'guid="verbatim-', 1).replace(
        "</p>", "<![CDATA[ &#x1a; ]]></p>", 1
    )
    kept = post_xml(ingest, verbatim)
    assert kept.status_code == 202, kept.text
    assert "&amp;#x1a;" in ingest.events()[-1].article.body_html


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE newsItem [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="urn:x:laughs">
 <contentMeta><headline>&lol9;</headline></contentMeta>
</newsItem>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE newsItem [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="urn:x:xxe">
 <contentMeta><headline>&secret;</headline></contentMeta>
</newsItem>"""

NETWORK_DTD = """<?xml version="1.0"?>
<!DOCTYPE newsItem SYSTEM "http://127.0.0.1:9/evil.dtd">
<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="urn:x:dtd"/>"""


@pytest.mark.parametrize(("body", "content_type", "status", "kind"), [
    (BILLION_LAUGHS, NEWSITEM, 400, "unsafe-xml"),
    (EXTERNAL_ENTITY, "application/xml", 400, "unsafe-xml"),
    (NETWORK_DTD, NEWSITEM, 400, "unsafe-xml"),
    ("<newsItem guid='x'><contentMeta>", NEWSITEM, 400, "malformed-xml"),
    ("<a>" * 200 + "</a>" * 200, NEWSITEM, 400, "malformed-xml"),
    ("<rss version='2.0'><channel/></rss>", "application/xml", 422, "invalid-article"),
    (ARABIC.replace("ninat:text", "ninat:picture"), NEWSITEM, 422, "invalid-article"),
])  # fmt: skip
def test_hostile_or_foreign_xml_is_refused_unread(
    ingest: IngestProcess, body: str, content_type: str, status: int, kind: str
) -> None:
    before = ingest.stream_length()
    answer = post_xml(ingest, body, content_type)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"] == f"urn:khabar:problem:{kind}"
    assert "root:" not in answer.text  # nothing of /etc/passwd came back
    assert ingest.stream_length() == before


def news_message(*items: str) -> str:
    """A newsMessage bundling newsItems, as agencies deliver a wire's items."""
    bodies = [item.split("?>", 1)[1] if item.startswith("<?xml") else item for item in items]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<newsMessage xmlns="http://iptc.org/std/nar/2006-10-01/">\n'
        "<header><sent>2026-03-01T12:05:00Z</sent></header>\n"
        f"<itemSet>{''.join(bodies)}</itemSet>\n"
        "</newsMessage>"
    )


def test_a_news_message_of_several_items_is_answered_per_item_with_the_zone_applied(
    ingest: IngestProcess,
) -> None:
    zoned = ARABIC.replace("ar-lebanon-elections", "ar-message-1")
    offset = ARABIC.replace("ar-lebanon-elections", "ar-message-2").replace(
        "2026-03-01T12:00:00<", "2026-03-01T12:20:00+02:00<"
    )
    headless = ARABIC.replace("ar-lebanon-elections", "ar-message-3").replace(
        "<headline>لبنان يحدد موعد الانتخابات البلدية</headline>", ""
    )
    iptc = (DATA / "LISTING_2_NewsML-G2_Text_Document.xml").read_text(encoding="utf-8")
    iptc = iptc.replace("US-FINANCE-FED", "US-FINANCE-FED-BUNDLED")  # not the one sent alone
    before = ingest.stream_length()
    answer = post_xml(
        ingest,
        news_message(zoned, offset, headless, iptc),
        "application/vnd.iptc.g2.newsmessage+xml",
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (3, 1), body
    first, second, third, fourth = body["items"]
    assert first["outcome"] == "accepted" and first["time_zone_applied"] == "Asia/Beirut"
    assert first["fields_read_in_time_zone"] == ["/versioncreated"]
    assert second["outcome"] == "accepted" and second["time_zone_applied"] is None
    assert third["outcome"] == "rejected" and third["status"] == 422
    assert [e["pointer"] for e in third["problem"]["errors"]] == [
        "/newsMessage/itemSet/newsItem[3]/contentMeta/headline"
    ]
    assert fourth["outcome"] == "accepted"
    events = ingest.events()[before:]
    assert [e.article.uri for e in events] == [
        "urn:newsml:example.org:20260301:ar-message-1",
        "urn:newsml:example.org:20260301:ar-message-2",
        "urn:newsml:acmenews.com:20161121:US-FINANCE-FED-BUNDLED",
    ]
    assert [e.article_id for e in events] == [
        first["article_id"],
        second["article_id"],
        fourth["article_id"],
    ]
    assert events[0].article.versioncreated == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_a_batch_says_per_item_which_zone_its_times_were_read_in(ingest: IngestProcess) -> None:
    def item(n: int, versioncreated: str) -> dict[str, str]:
        return {
            "uri": f"urn:test:zoned-batch-{n}",
            "headline": f"خبر رقم {n}",
            "body_html": "<p>نص الخبر.</p>",
            "language": "ar",
            "versioncreated": versioncreated,
        }

    with ingest.client() as client:
        answer = client.post(
            "/v1/articles/batch",
            json=[item(1, "2026-03-01T12:00:00"), item(2, "2026-03-01T12:00:00Z")],
        )
    assert answer.status_code == 200, answer.text
    naive, offset = answer.json()["items"]
    assert naive["time_zone_applied"] == "Asia/Beirut"
    assert naive["fields_read_in_time_zone"] == ["/versioncreated"]
    assert offset["time_zone_applied"] is None and offset["fields_read_in_time_zone"] is None
