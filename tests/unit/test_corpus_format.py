"""Corpus lines → Articles: ids, sections, paragraphs and subheads, escaping; and the sample."""

import gzip
import json
from pathlib import Path

import pytest

from khabar_ingest.formats import Limits, article_id_from_uri, parse_ninjs
from khabar_ingest.formats.corpus import (
    UNDATED,
    ant_article,
    detokenize,
    ecb_article,
    find_date,
    iter_corpus,
    iter_records,
)
from khabar_ingest.formats.writer import article_to_ninjs
from tests.support import corpus_file

REPO = Path(__file__).resolve().parents[2]
ANT = corpus_file("ant-arabic-news-2018h1.jsonl.gz")
ECB = corpus_file("ecbplus-english-events-topics01-20.jsonl.gz")
PAIRS = corpus_file("ant-2018h1-same-story-pairs.silver.json")
SAMPLE_AR = REPO / "samples" / "articles.ar.jsonl.gz"
SAMPLE_EN = REPO / "samples" / "articles.en.jsonl.gz"


def record(**changes):
    base = {
        "docno": "BB-sport-40-20180112",
        "url": "http://www.bbc.co.uk/arabic/sports-42653417",
        "source": "BBC",
        "categories": ["sport"],
        "published": "2018-01-12T00:34:54+00:00",
        "author": None,
        "title": "لماذا تراجع رونالدو في قائمة أغلى اللاعبين؟",
        "abstract": "سجل اللاعب البرتغالي كريستيانو رونالدو أكثر من 50 هدفا.",
        "text": (
            "سجل اللاعب البرتغالي كريستيانو رونالدو أكثر من 50 هدفا.\n"
            "عامل السن\n"
            "وكان رونالدو قد جاء في المركز السابع."
        ),
    }
    base.update(changes)
    return base


def test_ant_record_maps_onto_an_article():
    article = ant_article(record())
    assert article.id == "bb-sport-40-20180112"
    assert article_id_from_uri(article.uri) == article.id  # the docno is a clean uri
    assert (article.language, article.source, article.category) == ("ar", "BBC", "sport")
    assert article.lead == "سجل اللاعب البرتغالي كريستيانو رونالدو أكثر من 50 هدفا."
    assert article.body_html == (
        "<p>سجل اللاعب البرتغالي كريستيانو رونالدو أكثر من 50 هدفا.</p>\n"
        "<h2>عامل السن</h2>\n"
        "<p>وكان رونالدو قد جاء في المركز السابع.</p>"
    )
    assert article.extra["categories"] == ["sport"]
    assert article.versioncreated.isoformat() == "2018-01-12T00:34:54+00:00"


def test_text_is_escaped_never_markup():
    article = ant_article(
        record(text='بداية الخبر هنا.\n<script>alert("x")</script>\nنهاية & ختام.')
    )
    assert "<script>" not in article.body_html
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in article.body_html
    assert "<p>نهاية &amp; ختام.</p>" in article.body_html


@pytest.mark.parametrize(
    ("category", "section"),
    [("internationalNews", "world"), ("middleEast", "middle-east"), ("economy", "economy"),
     ("sport", "sport"), ("technology", "technology"), ("culture", "culture")],
)  # fmt: skip
def test_first_category_is_the_section(category, section):
    assert ant_article(record(categories=[category, "sport"])).category == section


def test_uuid_authors_are_not_bylines_and_datelines_are():
    assert ant_article(record(author="b94838c1-5156-4655-9788-795118301147")).byline == ""
    assert (
        ant_article(record(author="أبوظبي - سكاي نيوز عربية")).byline == "أبوظبي - سكاي نيوز عربية"
    )


def test_outlet_boilerplate_is_dropped():
    text = (
        "نص المقال الأول هنا.\n"
        '* نقلا عن "الشرق الأوسط"\n'
        "** جميع المقالات المنشورة تمثل رأي كتابها فقط."
    )
    body = ant_article(record(text=text)).body_html
    assert "جميع المقالات المنشورة" not in body
    assert "نقلا عن" in body


def test_a_date_without_offset_is_refused():
    with pytest.raises(ValueError, match="needs a UTC offset"):
        ant_article(record(published="2018-01-12T00:34:54"))


def test_real_corpus_lines_all_become_articles():
    articles = list(iter_corpus(ANT, limit=400))
    assert len(articles) == 400
    assert {a.source for a in articles} >= {"alarabia"}
    first = articles[0]
    assert first.id == "al-culture-69-20121011"
    assert first.headline == "فيلم بن لادن"
    assert first.byline == ""  # Al Arabiya's author field is an id, not a name
    assert "بن لادن" in first.body_html
    assert all(a.body_html.startswith(("<p>", "<h2>")) for a in articles if a.body_html)


def test_ecb_plus_document_gets_headline_date_and_source():
    article = ecb_article({
        "doc": "1_10ecbplus.xml", "topic": 1, "event": "1b",
        "sentences": [
            ("http: / / articles. latimes. com / 2013 / may / 03 / local / "
             "la - me - 0504 - lohan - rehab - 20130504"),
            "Lindsay Lohan checks into Betty Ford Center",
            "May 03, 2013",
            ("Lohan has checked into the Betty Ford Center to begin a 90 - day court - mandated "
             "stay ."),
            "`` We appreciate your respect , '' her rep said <b>.",
        ],
    })  # fmt: skip
    assert article.id == "ecb-1_10ecbplus"
    assert article.language == "en"
    assert article.headline == "Lindsay Lohan checks into Betty Ford Center"
    assert (
        article.url
        == "http://articles.latimes.com/2013/may/03/local/la-me-0504-lohan-rehab-20130504"
    )
    assert article.source == "articles.latimes.com"
    assert article.versioncreated.date().isoformat() == "2013-05-03"
    assert "May 03, 2013" not in article.body_html
    assert (
        "<p>Lohan has checked into the Betty Ford Center to begin a 90-day court-mandated stay.</p>"
        in article.body_html
    )
    assert '"We appreciate your respect," her rep said &lt;b&gt;.' in article.body_html
    assert article.extra == {"corpus": "ecb+", "doc": "1_10ecbplus.xml", "topic": 1, "event": "1b"}


def test_ecb_document_without_url_or_date():
    article = ecb_article({"doc": "1_10ecb.xml", "topic": 1, "event": "1a", "sentences": [
        ("Perennial party girl Tara Reid checked herself into Promises Treatment Center , "
         "her rep told People ."),
        "Page was born on April 22 , 1923 , in Nashville , Tenn .",
    ]})  # fmt: skip
    assert article.headline.startswith("Perennial party girl Tara Reid")
    assert article.versioncreated == UNDATED  # a birth date in the text is not a dateline
    assert article.url is None and article.source == "ecb+"
    # An ECB document has no headline: its first sentence is the story's, and stays in it.
    assert article.body_html.startswith("<p>Perennial party girl Tara Reid")


def test_a_headless_ecb_document_keeps_its_first_sentence_and_a_headline_ingest_takes():
    """Three ECB documents begin with a sentence over 300 characters, read whole as their
    headline: ingest refused them (422). A document that does begin with a headline (no
    full stop) still gives it, and its body goes without it."""
    long_first = ("In a move environmental groups says strikes at the heart of the Endangered "
                  "Species Act , the Bush administration on Thursday announced a new rule that "
                  "would let federal agencies decide on their own whether their projects harm "
                  "endangered species , instead of requiring them in many cases to get a second "
                  "opinion from federal wildlife experts .")  # fmt: skip
    article = ecb_article({"doc": "9_9ecb.xml", "topic": 9, "event": "9a", "sentences": [
        long_first, "The rule was proposed in August .",
    ]})  # fmt: skip
    assert len(article.headline) <= Limits().max_headline_chars
    assert article.headline.endswith("to get a\u2026")
    assert article.body_html.startswith("<p>In a move environmental groups says strikes")
    assert "wildlife experts.</p>" in article.body_html
    parse_ninjs(article_to_ninjs(article))  # no InvalidArticle

    titled = ecb_article({"doc": "1_14ecb.xml", "topic": 1, "event": "1a", "sentences": [
        "Tara Reid Finally Checks Into Rehab For Undisclosed Reasons",
        "It 's been a long time coming .",
    ]})  # fmt: skip
    assert titled.headline == "Tara Reid Finally Checks Into Rehab For Undisclosed Reasons"
    assert titled.body_html == "<p>It's been a long time coming.</p>"


def test_dates_and_detokenizing():
    assert find_date("Updated: May 24, 2005, 3:23 PM ET").date().isoformat() == "2005-05-24"
    assert find_date("14 June 2013").date().isoformat() == "2013-06-14"
    assert find_date("2013 - 09 - 26").date().isoformat() == "2013-09-26"
    assert find_date("no date here") is None
    assert detokenize("She did n't go ( yet ) , he said .") == "She didn't go (yet), he said."


def test_the_whole_english_file_reads():
    articles = list(iter_corpus(ECB))
    assert len(articles) == 413
    assert len({a.id for a in articles}) == 413
    assert all(a.language == "en" and a.headline for a in articles)
    too_long = [a.id for a in articles if len(a.headline) > Limits().max_headline_chars]
    assert too_long == []


def test_iter_records_honours_limit(tmp_path):
    path = tmp_path / "three.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for n in range(3):
            out.write(json.dumps(record(docno=f"SK-sport-{n}-20180101")) + "\n")
    assert [r["docno"] for r in iter_records(path, limit=2)] == [
        "SK-sport-0-20180101",
        "SK-sport-1-20180101",
    ]
    assert [a.id for a in iter_corpus(path)] == [f"sk-sport-{n}-20180101" for n in range(3)]


# ---- the bundled sample ---------------------------------------------------------


def test_the_arabic_sample_is_spread_and_small():
    articles = list(iter_corpus(SAMPLE_AR))
    assert 280 <= len(articles) <= 320
    assert {a.source for a in articles} == {"alarabia", "BBC", "CNN", "france24", "skynews"}
    assert {a.category for a in articles} == {
        "world",
        "middle-east",
        "economy",
        "sport",
        "technology",
        "culture",
    }
    assert len({a.id for a in articles}) == len(articles)
    assert all(a.language == "ar" and a.headline and a.body_html for a in articles)
    assert SAMPLE_AR.stat().st_size + SAMPLE_EN.stat().st_size < 1_500_000


def test_the_arabic_sample_holds_whole_same_story_pairs():
    docnos = {a.extra["docno"] for a in iter_corpus(SAMPLE_AR)}
    pairs = json.loads(PAIRS.read_text(encoding="utf-8"))
    inside = [p for p in pairs if p["a"] in docnos and p["b"] in docnos]
    assert len(inside) >= 30


def test_the_english_sample_has_same_event_pairs():
    articles = list(iter_corpus(SAMPLE_EN))
    assert 36 <= len(articles) <= 44
    events = [a.extra["event"] for a in articles]
    assert sum(events.count(e) >= 2 for e in set(events)) >= 15
    assert all(a.language == "en" for a in articles)


def test_control_characters_of_scraped_text_are_removed():
    article = ant_article(record(title="عنوان\x02 الخبر", text="فقرة أولى\x02 كاملة.\nفقرة ثانية."))
    assert article.headline == "عنوان الخبر"
    assert "\x02" not in article.body_html and "فقرة أولى كاملة." in article.body_html
