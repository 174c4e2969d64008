"""The held-out archives of `bench.known_item`: SaudiNewsNet's reader and the words as typed."""

import json
from pathlib import Path

from bench.known_item import as_typed, stories
from bench.saudi_news import reprints, saudi_articles

AGENCY_COPY = (
    "أعلنت هيئة الاتصالات وتقنية المعلومات اليوم عن حملة واسعة لملاحقة الشرائح المجهولة "
    "التي تباع في الأسواق دون تسجيل هوية المشترين وقالت الهيئة إن الحملة تشمل جميع مناطق "
    "المملكة وتستمر حتى نهاية الشهر المقبل وإن المخالفين سيتعرضون لغرامات مالية كبيرة "
    "ودعت المواطنين والمقيمين إلى الإبلاغ عن أي محل يبيع الشرائح دون توثيق"
)


def record(source: str, url: str, title: str, content: str, day: str = "2015-08-03") -> dict:
    return {
        "source": source,
        "url": url,
        "date_extracted": f"{day} 10:00:00",
        "title": title,
        "author": "",
        "content": content,
    }


def write_day(folder: Path, day: str, records: list[dict]) -> None:
    (folder / f"{day}.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")


def test_saudi_articles_reads_each_url_once_and_skips_empty_titles(tmp_path: Path) -> None:
    write_day(
        tmp_path,
        "2015-08-03",
        [
            record("okaz", "http://okaz/1", "الاتصالات تحاصر الشرائح المجهولة", AGENCY_COPY),
            record("okaz", "http://okaz/1", "الاتصالات تحاصر الشرائح المجهولة", AGENCY_COPY),
            record("sabq", "http://sabq/2", "", AGENCY_COPY),
        ],
    )
    articles = saudi_articles(tmp_path)
    assert [a.source for a in articles] == ["okaz"]
    assert articles[0].versioncreated.utcoffset().total_seconds() == 3 * 3600  # Riyadh time
    assert articles[0].lead.startswith("أعلنت هيئة الاتصالات")


def test_reprints_join_papers_sharing_the_copy_but_not_one_paper_or_another_week(
    tmp_path: Path,
) -> None:
    other = "فاز الفريق الأول لكرة القدم في مباراته الودية الأولى " * 4
    write_day(
        tmp_path,
        "2015-08-03",
        [
            record("okaz", "http://okaz/1", "الاتصالات تحاصر الشرائح", AGENCY_COPY),
            record("sabq", "http://sabq/1", "حملة على الشرائح المجهولة", "عاجل\n" + AGENCY_COPY),
            record("okaz", "http://okaz/2", "نسخة ثانية في الصحيفة نفسها", AGENCY_COPY),
            record("alyaum", "http://alyaum/1", "الفريق يفوز وديا", other),
        ],
    )
    write_day(
        tmp_path,
        "2015-08-11",
        [record("alweeam", "http://alweeam/1", "بعد أسبوع", AGENCY_COPY, day="2015-08-11")],
    )
    articles = saudi_articles(tmp_path)
    by_url = {a.uri: a.id for a in articles}
    pairs = {frozenset(p) for p in reprints(articles)}
    assert frozenset({by_url["http://okaz/1"], by_url["http://sabq/1"]}) in pairs
    assert frozenset({by_url["http://okaz/2"], by_url["http://sabq/1"]}) in pairs
    assert frozenset({by_url["http://okaz/1"], by_url["http://okaz/2"]}) not in pairs
    assert not any(by_url["http://alweeam/1"] in p for p in pairs)
    assert not any(by_url["http://alyaum/1"] in p for p in pairs)
    story = stories([tuple(p) for p in pairs])[by_url["http://okaz/1"]]
    assert by_url["http://okaz/2"] in story  # joined through the other paper's copy


def test_as_typed_drops_the_written_article_but_not_a_hamza_al() -> None:
    headline = "إطلاق تطبيق إلكتروني خاص بالانتخابات"
    assert as_typed("الكتروني اطلاق تطبيق", headline) == "الكتروني اطلاق تطبيق"
    assert as_typed("الحكومة تطلق", "«الحكومة» تطلق") == "حكومه تطلق"
    assert as_typed("تطلق الحكومة", "تطلق الحكومة") == "تطلق الحكومه"
