"""Gazetteer, topics, keyphrases and the tagger, on real articles of the ANT 2018 corpus."""

from datetime import UTC, datetime

import pytest

from bench.enrich_measures import topic_agreement
from khabar_dev.ant import corpus_article
from khabar_dev.corpus import ANT, corpus_file
from khabar_enrich import tagging
from khabar_enrich.gazetteer import Gazetteer, gazetteer, keys, load_entities, variants_by_id
from khabar_enrich.keyphrases import GENERIC, extract_keyphrases
from khabar_enrich.tagging import (
    MAX_PER_TYPE,
    html_to_text,
    read_part,
    strip_dateline,
    tag_article,
)
from khabar_enrich.topics import REGIONS, TOPICS, score_topics, term_counts
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article
from khabar_shared.text import analyze, is_stopword, normalize

# Four real articles of the corpus, verbatim (docno, categories, title, text).
SALAH = {
    "docno": "CN-sport-13-20180214",
    "categories": ["sport"],
    "published": "2018-02-14T10:00:00+00:00",
    "title": "جماهير ليفربول تغني لمحمد صلاح: إذا سجلت مجددا سنصبح مسلمين",
    "text": (
        "دبي، الإمارات العربية المتحدة (CNN) -- ابتكرت جماهير ليفربول أغنية جديدة لنجمها المصري "
        "محمد صلاح، الذي سجل هدفا في مرمى بورتو البرتغالي في دور الـ16 لدوري أبطال أوروبا، أشار "
        "فيها المشجعون إلى إمكانية اعتناقهم الدين الإسلامي في حال سجل اللاعب المصري المزيد من "
        "الأهداف.\n"
        'وتقول كلمات الأغنية "إذا كان جيدا بما فيه الكفاية لي، إذ سجل المزيد من الأهداف، سأصبح '
        'مسلما مثله".\n'
        "وسجل صلاح هدف فريقه الثاني في شباك بورتو البرتغالي، خلال المباراة التي لعبت على أرضية "
        'ملعب "دراغاو" وانتهت بخماسية نظيفة لليفربول. \n'
        "ووصل النجم المصري إلى هدفه رقم 30 خلال الموسم الحالي في جميع البطولات التي خاضها مع "
        '"الريدز".'
    ),
}
BEZOS = {
    "docno": "AL-economy-29-20180212",
    "categories": ["economy"],
    "published": "2018-02-12T10:00:00+00:00",
    "title": "كم يوماً تتحمله ثروة أغنى شخص لتمويل بلاده؟",
    "text": (
        'يفترض مؤشر "روبن هود" إفلاس الحكومة وتمويلها من قبل أغنى شخص فيها، ويقيس المؤشر ثروة أغنى '
        "الأثرياء إلى إنفاق الحكومة اليومي.\n"
        'فمثلا، على الرغم من أن ثروة الأميركي جيف بيزوس، المؤسس والرئيس التنفيذي لشركة "أمازون"، '
        "والذي يعتلي عرش أغنى أغنياء العالم، قد وصلت إلى 99 مليار دولار، إلا أنها لا تكفي لإعالة "
        "أميركا سوى لـ5 أيام فقط.\n"
        'أما ثروة جاك ما، مؤسس شركة "علي بابا" وأغنى رجل في ثاني اقتصاد عالمي، والبالغة 47.8 مليار '
        "دولار، فلا تكفي سوى لإعالة الصين 4 أيام فقط.\n"
        "والـ10 مليارات دولار، ثروة جون فريدريكسن مالك أكبر أسطول لناقلات النفط، إن تبرع بها لبلده "
        "قبرص فستغطي احتياجاتها لـ441 يوماً."
    ),
}
FALCON = {
    "docno": "CN-technology-13-20180207",
    "categories": ["technology"],
    "published": "2018-02-07T10:00:00+00:00",
    "title": "شاهد.. مركبتكم الاقتصادية إلى القمر أو المريخ أصبحت حقيقية",
    "text": (
        "أتلانتا، الولايات المتحدة الأمريكية (CNN)-- صاروخ فالكون الثقيل من سبيس إكس أصبح الآن في "
        "الفضاء، وهو أكبر وأقوى صاروخ فعّال اليوم. شركة استكشاف الفضاء الخاصة والتي أسسها "
        "الميلياردير إيلون موسك تأمل أن يكون هذا الصاروخ وسيلة نقل البشر إلى القمر أو المريخ. "
        "لاختبار تحمل الصاروخ، أرسلت سبيس إكس “رجل النجوم”، وهو عبارة عن دمية ترتدي بزة فضائية، مع "
        "إحدى سيارات رودستر الحمراء من تسلا. رائد الفضاء كريس هادفيل، قائد محطة الفضاء الدولية "
        "السابق، تحدث مع CNN عن إنجاز سبيس اكس."
    ),
}
JALALI = {
    "docno": "SK-internationalNews-16-20180217",
    "categories": ["internationalNews"],
    "published": "2018-02-17T10:00:00+00:00",
    "title": "السويد تمنح جنسيتها لعالم يواجه حكم إعدام في إيران",
    "text": (
        "أعلنت وزارة الخارجية السويدية، السبت، منح جنسية البلاد لعالم مقيم في ستوكهولم تحتجزه "
        "إيران حاليا وصدر بحقه حكم بالإعدام.\n"
        "وأوقفت السلطات الإيرانية أحمد رضا جلالي، وهو طبيب ومحاضر في معهد كارولينسكا في ستوكهولم، "
        "في أبريل 2016، وأدين في وقت لاحق بتهمة التجسس لصالح إسرائيل وتقديم معلومات لها للمساعدة "
        "في اغتيال علماء بارزين في المجال النووي.\n"
        'وأوردت متحدثة باسم الخارجية السويدية "علمنا أن إدارة الهجرة منحته الجنسية. نحن مستمرون في '
        'عملنا القنصلي فيما يخص جلالي ونطلب تقديم المساعدة القنصلية لمواطننا".\n'
        'وأضافت "نجري اتصالات مستمرة مع ممثلين إيرانيين، وطلبنا مقابلة جلالي وعرضنا رأي السويد في '
        'عقوبة الإعدام التي ندينها بكافة أشكالها. مطلبنا هو عدم تنفيذ عقوبة الإعدام".'
    ),
}


def ids(text: str) -> list[str]:
    return [m.entity_id for m in gazetteer().find(text)]


def tag_ids(record: dict, kind: str, use_category: bool = False) -> list[str]:
    return [t.id for t in tag_article(corpus_article(record), use_category).tags if t.type == kind]


# --- the gazetteer data ----------------------------------------------------------------


def test_gazetteer_is_large_and_well_formed() -> None:
    entities = load_entities()
    assert len(entities) >= 300
    prefix = {"person": "person:", "place": "place:", "organisation": "org:"}
    for entity in entities:
        assert entity.id.startswith(prefix[entity.type]), entity.id
        assert entity.ar and entity.en and entity.match.get("ar") and entity.match.get("en")
        assert entity.region in (None, *REGIONS)
        for form in entity.confirm:
            assert form in entity.match["ar"] + entity.match["en"]


def test_no_surface_form_belongs_to_two_entities() -> None:
    assert gazetteer().claimed_by_two() == []


def test_variants_by_id_lists_both_scripts_for_synonyms() -> None:
    variants = variants_by_id()
    assert {"ترامب", "ترمب", "Trump"} <= set(variants["person:donald-trump"])
    assert {"فيفا", "الفيفا", "FIFA"} <= set(variants["org:fifa"])
    assert {"آبل", "أبل", "Apple"} <= set(variants["org:apple"])
    assert {"داعش", "تنظيم الدولة", "ISIS"} <= set(variants["org:isis"])


# --- matching --------------------------------------------------------------------------


def test_multiword_names_match_through_clitics() -> None:
    # FR-economy-10-20180123
    assert ids("بفضل عمل مهم من الحوار بين تونس والاتحاد الأوروبي ومساع مكثفة") == [
        "place:tunisia",
        "org:european-union",
    ]
    # AL-internationalNews-159-20180222, AL-internationalNews-415-20180310, BB-economy-3-20180217
    assert ids("الوفد الرئيسي لكوريا الشمالية في الأولمبياد الشتوي") == [
        "place:north-korea",
        "org:olympics",
    ]
    assert ids("وأردف ترمب أعتقد أنه بما يتعلق بكوريا الشمالية") == [
        "person:donald-trump",
        "place:north-korea",
    ]
    assert ids("إن الصين وكوريا الشمالية وروسيا تشارك أحيانا") == [
        "place:china",
        "place:north-korea",
        "place:russia",
    ]


def test_the_longest_name_wins() -> None:
    assert ids("ريال مدريد يستضيف أتلتيكو مدريد في مدريد") == [
        "org:real-madrid",
        "org:atletico-madrid",
        "place:spain",
    ]
    # Two names of the crown prince, none of his father King Salman.
    assert ids("قال ولي العهد السعودي الأمير محمد بن سلمان") == ["person:mohammed-bin-salman"] * 2


def test_the_article_is_part_of_a_name() -> None:
    # "الصدر" the cleric is not "صدر", "was issued".
    assert ids("فاز تحالف مقتدى الصدر، وقال الصدر") == ["person:muqtada-al-sadr"] * 2
    assert ids("وصدر بحقه حكم بالإعدام") == []


def test_latin_names_match_case_sensitively() -> None:
    assert ids("Theresa May said Britain may leave") == [
        "person:theresa-may",
        "place:united-kingdom",
    ]
    assert ids("they may go to the us") == []


def test_a_bare_surname_needs_the_full_name_in_the_same_text() -> None:
    # Alabama executed a man named Walter Leroy Moody ("والتر ليروي مودي"): not Narendra Modi.
    assert ids("أعدمت ولاية ألاباما والتر ليروي مودي. وأدين مودي") == []
    assert ids("زار ناريندرا مودي الإمارات، وقال مودي") == [
        "person:narendra-modi",
        "place:uae",
        "person:narendra-modi",
    ]


def test_a_gazetteer_can_be_built_from_any_entities() -> None:
    small = Gazetteer([e for e in load_entities() if e.id in {"place:egypt", "place:cairo"}])
    assert [m.entity_id for m in small.find("من القاهرة إلى مصر")] == ["place:egypt", "place:egypt"]


# --- body text -------------------------------------------------------------------------


def test_html_to_text_and_dateline() -> None:
    assert html_to_text("<p>أول &amp; ثاني</p><p>ثالث<br>رابع</p>").split("\n")[:3] == [
        "أول & ثاني",
        "ثالث",
        "رابع",
    ]
    assert strip_dateline(
        "دبي، الإمارات العربية المتحدة (CNN) -- ابتكرت جماهير ليفربول"
    ).startswith("ابتكرت")
    assert strip_dateline("لندن - رويترز: قال").startswith("رويترز")
    assert strip_dateline("قال الرئيس إن الاتفاق - وهو الأول - مهم").startswith("قال")


# --- the tagger on whole articles --------------------------------------------------------


def test_sport_article() -> None:
    result = tag_article(corpus_article(SALAH), use_category=False)
    assert result.topic == "sport"
    people = tag_ids(SALAH, "person")
    orgs = tag_ids(SALAH, "organisation")
    assert people[0] == "person:mohamed-salah"
    assert orgs[0] == "org:liverpool"
    assert "org:champions-league" in orgs
    # The CNN dateline names Dubai and the Emirates: where it was filed, not what it is about.
    assert "place:dubai" not in tag_ids(SALAH, "place")
    assert "place:uae" not in tag_ids(SALAH, "place")


def test_economy_article() -> None:
    result = tag_article(corpus_article(BEZOS), use_category=False)
    assert result.topic == "economy"
    assert "person:jeff-bezos" in tag_ids(BEZOS, "person")
    assert "org:amazon" in tag_ids(BEZOS, "organisation")
    assert {"place:united-states", "place:china", "place:cyprus"} <= set(tag_ids(BEZOS, "place"))


def test_technology_article() -> None:
    result = tag_article(corpus_article(FALCON), use_category=False)
    assert result.topic == "technology"
    assert {"org:spacex", "org:tesla"} <= set(tag_ids(FALCON, "organisation"))
    assert tag_ids(FALCON, "person") == ["person:elon-musk"]


def test_world_news_goes_to_the_region_it_is_about() -> None:
    result = tag_article(corpus_article(JALALI), use_category=False)
    assert result.topic == "europe"  # Sweden gives a scientist held in Iran its citizenship
    places = tag_ids(JALALI, "place")
    assert places[0] == "place:sweden"
    assert {"place:iran", "place:israel"} <= set(places)


def test_headline_mentions_weigh_more_than_body_mentions() -> None:
    article = Article(
        id="t1",
        uri="t1",
        language="ar",
        versioncreated=datetime(2018, 3, 1, tzinfo=UTC),
        headline="ماكرون يزور الرياض",
        body_html=(
            "<p>وصل الرئيس الفرنسي إيمانويل ماكرون إلى الرياض. "
            "وكانت ميركل قد زارت برلين، وتحدثت ميركل عن برلين.</p>"
        ),
    )
    tags = {t.id: t.score for t in tag_article(article).tags}
    assert tags["person:emmanuel-macron"] > tags["person:angela-merkel"]
    assert tags["place:saudi-arabia"] > tags["place:germany"]


def test_tags_are_capped_per_type_and_scored_in_range() -> None:
    body = "، ".join(e.ar for e in load_entities() if e.type == "place" and e.region == "europe")
    article = Article(
        id="t2",
        uri="t2",
        language="ar",
        headline="جولة أوروبية",
        body_html=f"<p>{body}</p>",
        versioncreated=datetime(2018, 3, 1, tzinfo=UTC),
    )
    result = tag_article(article)
    places = [t for t in result.tags if t.type == "place"]
    assert len(places) == MAX_PER_TYPE
    assert all(0 < t.score <= 1 for t in result.tags)
    assert result.topics[0] == result.topic and len(result.topics) <= 4
    assert all(t in TOPICS for t in result.topics)


def test_names_are_given_in_the_article_language() -> None:
    english = Article(
        id="t3",
        uri="t3",
        language="en",
        headline="Putin meets Erdogan in Ankara",
        body_html="<p>Russian President Vladimir Putin met Recep Tayyip Erdogan.</p>",
        versioncreated=datetime(2018, 4, 3, tzinfo=UTC),
    )
    tags = {t.id: t for t in tag_article(english).tags}
    assert tags["person:vladimir-putin"].name == "Vladimir Putin"
    assert tags["person:vladimir-putin"].names["ar"] == "فلاديمير بوتين"
    assert tags["place:turkey"].name == "Turkey"


# --- keyphrases --------------------------------------------------------------------------


@pytest.mark.parametrize("record", [SALAH, BEZOS, FALCON, JALALI], ids=lambda r: r["docno"])
def test_keyphrases_are_short_and_free_of_stop_words(record: dict) -> None:
    result = tag_article(corpus_article(record))
    assert 1 <= len(result.keyphrases) <= 5
    for phrase in result.keyphrases:
        words = phrase.split()
        assert 1 <= len(words) <= 3
        for edge in (words[0], words[-1]):
            assert not is_stopword(normalize(edge)), phrase
        assert not any(normalize(w) in GENERIC for w in words), phrase
    stems = [tuple(analyze(p)) for p in result.keyphrases]
    assert len(set(stems)) == len(stems)  # no phrase twice in another form


def test_keyphrases_of_a_real_article() -> None:
    phrases = tag_article(corpus_article(JALALI)).keyphrases
    assert phrases[0] == "عقوبة الإعدام"
    assert "الخارجية السويدية" in phrases


def test_keyphrases_leave_names_to_entity_tags() -> None:
    segments = read_part(
        "body", "زعيم كوريا الشمالية كيم جونغ أون. زعيم كوريا الشمالية كيم جونغ أون"
    ).segments
    entity_names = {tuple(keys("كوريا الشمالية")), tuple(keys("كيم جونغ أون"))}
    phrases = [p for p, _ in extract_keyphrases([], segments, entity_names)]
    assert phrases == ["زعيم كوريا الشمالية"]


@pytest.mark.parametrize(
    "text",
    [
        "لندن - رويترز قال الوزير، في بيان: «الاتفاق» (تم) …والحكومة",
        "أ -- ب - ج -د\tه\nو\r\nز | ح/ط – ي — ك",
        "الحُكومَة - - اللبنانيّة ـ -ً الوزير\u00a0-\u00a0البرلمان",
        "- بداية .نهاية -",
        "Apple's iPhone 8 (Reuters) - May said; لCNN",
        "",
    ],
)
def test_read_part_cuts_the_clauses_of_the_clause_by_clause_reading(text: str) -> None:
    """The one-pass, chunk-cached reading finds the words and clause ends of the reference reading:
    diacritics gone, the text split at _CLAUSE_BREAK, then the words of each clause."""
    from khabar_enrich.tagging import _CLAUSE_BREAK, word_token
    from khabar_shared.text import WORD

    diacritics = {c: None for c in [*range(0x064B, 0x0653), 0x0670, 0x0640]}
    clauses = [WORD.findall(clause) for clause in _CLAUSE_BREAK.split(text.translate(diacritics))]
    expected = [[word_token(raw) for raw in words] for words in clauses if words]
    part = read_part("body", text)
    assert part.segments == expected
    assert part.terms == [t.term for segment in expected for t in segment if t.term is not None]


# --- topics ------------------------------------------------------------------------------


def test_the_category_is_a_prior_that_tilts_close_calls_only() -> None:
    text = term_counts(analyze(SALAH["title"]), analyze(SALAH["text"]))
    assert score_topics(text, category="economy")[0][0] == "sport"
    # Culture, economy a near second (three words of each: evidence, see MIN_EVIDENCE_TERMS).
    close = term_counts(analyze("فيلم المخرج السينمائي يحقق إيرادات وأرباح ومبيعات بالدولار"), [])
    assert score_topics(close)[0][0] == "culture"
    assert score_topics(close, category="economy")[0][0] == "economy"
    assert score_topics(close, category="sport")[0][0] == "culture"


def test_topic_agreement_counts_per_category() -> None:
    report = topic_agreement(
        [
            (["sport"], "sport"),
            (["economy"], "business"),
            (["internationalNews"], "asia"),
            (["middleEast"], "europe"),
            (["internationalNews", "middleEast"], "middle-east"),
        ]
    )
    assert report["articles"] == 5
    assert report["agreement"] == pytest.approx(4 / 5)
    assert report["by_category"]["middleEast"] == 0.5
    assert report["by_category"]["sport"] == 1.0


def test_warming_up_reads_the_common_words_and_changes_no_tag() -> None:
    articles = list(iter_corpus(corpus_file(ANT), limit=40))
    tagging._CHUNKS.clear()
    tagging.word_token.cache_clear()
    cold = [tagging.tag_article(a) for a in articles]
    tagging._CHUNKS.clear()
    tagging.word_token.cache_clear()
    tagging.warm_up()
    assert len(tagging._CHUNKS) > 25_000
    assert [tagging.tag_article(a) for a in articles] == cold


@pytest.mark.parametrize(
    ("headline", "sentence", "language"),
    [
        ("اختبار", "هذه مقالة اختبار قصيرة.", "ar"),  # "test": a technology word, and nothing else
        ("اختبار", "هذا نص تجريبي.", "ar"),  # was technology and culture
        ("تجربة", "هذه تجربة للنظام.", "ar"),
        ("Test", "This is a test article.", "en"),
    ],
)
def test_a_tiny_article_gets_no_topic_without_evidence(
    headline: str, sentence: str, language: str
) -> None:
    """A headline and a sentence with one telling word is no evidence for a topic (issue 20)."""
    tiny = Article(
        id="tiny",
        uri="tiny",
        language=language,
        headline=headline,
        body_html=f"<p>{sentence}</p>",
        versioncreated=datetime(2026, 12, 7, tzinfo=UTC),
    )
    tagged = tag_article(tiny)
    assert tagged.topic == "" and tagged.topics == []
    assert not [tag for tag in tagged.tags if tag.type == "topic"]


def test_a_tiny_article_with_evidence_keeps_its_topic() -> None:
    """Two words of the sport lexicon in a headline and a sentence are evidence enough."""
    tiny = Article(
        id="tiny-sport",
        uri="tiny-sport",
        language="ar",
        headline="ريال مدريد يفوز في الدوري",
        body_html="<p>فاز فريق ريال مدريد على برشلونة بهدفين في المباراة.</p>",
        versioncreated=datetime(2026, 12, 7, tzinfo=UTC),
    )
    assert tag_article(tiny).topic == "sport"
