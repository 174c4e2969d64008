"""Relevance on real queries: what readers type finds the article it should, in the top 3.

The index holds the 300 sample articles plus corpus articles up to 3,000,
built the way the indexer builds them (enriched with the shared text pipeline
and enrich's tagger, then `to_document`). Every case names the article (or
the tellings of one story, any of which will do) the query must find among the
first three hits of the service's query. Raw Meilisearch (default settings,
the same articles' headline, lead and body) answers the same queries for the
report written to `artifacts/search-relevance.md`; it is not asserted.
"""

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.relevance import IndexFixture, load_corpus_articles, raw_search, service_search

ARTICLES = 3000
REPORT = Path(__file__).resolve().parents[2] / "artifacts/search-relevance.md"


@dataclass(frozen=True)
class Case:
    kind: str
    query: str
    wanted: tuple[str, ...]


def case(kind: str, query: str, *wanted: str) -> Case:
    return Case(kind, query, wanted)


CASES = [
    # Clitics: و ف ب ك ل and ال glued onto the reader's words.
    case("clitic", "وبيليه بالمستشفى", "bb-sport-33-20180119"),
    case(
        "clitic",
        "لنتنياهو والمهاجرين الأفارقة",
        "bb-middleeast-281-20180403",
        "fr-middleeast-202-20180403",
    ),
    case("clitic", "بطائرات إيرباص وللإمارات", "bb-economy-38-20180119", "fr-economy-13-20180118"),
    case("clitic", "والدرون الإيرانية لنتنياهو", "al-internationalnews-9-20180218"),
    case("clitic", "وأوبر بسياراتها ذاتية القيادة ومقتل سيدة", "cn-technology-63-20180320"),
    case("clitic", "وبرشلونة وفالنسيا", "bb-sport-22-20180202"),
    case("clitic", "وإنييستا ببرشلونة", "al-sport-1235-20180411"),
    case("clitic", "والتحالف باعتراض صاروخ للحوثيين", "cn-middleeast-743-20180427"),
    case("clitic", "كالأطفال محرز", "bb-sport-16-20180206"),
    case(
        "clitic",
        "والحكومة الإثيوبية والطوارئ",
        "bb-internationalnews-8-20180216",
        "al-internationalnews-34-20180216",
    ),
    # Hamza, alef and ta marbuta written the other way.
    case("spelling", "اردوغان حررنا 300 كلم بعفرين", "cn-middleeast-16-20180217"),
    case("spelling", "طائره ايرباص الصين", "fr-economy-17-20180110"),
    case("spelling", "الاسلحه الكيماويه اليابان", "cn-internationalnews-151-20180319"),
    case("spelling", "انييستا نهايه مشواره برشلونه", "al-sport-1235-20180411"),
    case("spelling", "مؤسس فيسبوك اخطاء", "al-technology-22-20180206"),
    case("spelling", "امينه خان لوريال", "bb-culture-32-20180123"),
    case("spelling", "حليب الاطفال السالمونيلا", "bb-technology-38-20180202"),
    case("spelling", "اثيوبيا استقاله رئيس الوزراء", "bb-internationalnews-8-20180216"),
    # Plurals and other derivations.
    case("derivation", "لاجئ ألمانيا هجوم", "sk-internationalnews-52-20180220"),
    case(
        "derivation",
        "مهاجر أفريقي نتنياهو",
        "bb-middleeast-281-20180403",
        "fr-middleeast-202-20180403",
    ),
    case("derivation", "صواريخ فالكون هيفي", "cn-technology-14-20180206"),
    case("derivation", "مجرم طائرات درون", "bb-technology-194-20180505"),
    case("derivation", "ضربة إسرائيلية سوريا 1982", "bb-middleeast-37-20180211"),
    case("derivation", "انتخابات تشريعية العراق الشهداء", "fr-middleeast-291-20180415"),
    case("derivation", "نازح يمني الحوثي", "al-internationalnews-277-20180301"),
    case("derivation", "سعودية قيادة سيارة سوق", "al-economy-196-20180308"),
    # Transliteration variants of foreign names.
    case("transliteration", "ترمب سوروس", "bb-economy-29-20180126"),
    case(
        "transliteration",
        "ترامب ماكرون النووي",
        "al-internationalnews-978-20180502",
        "sk-internationalnews-1308-20180502",
    ),
    case("transliteration", "نتانياهو الشرطة اتهامات", "bb-middleeast-21-20180214"),
    case("transliteration", "جوجل كروم الإعلانات", "sk-technology-21-20180215"),
    case("transliteration", "بوتن اليابان الكيماوية", "cn-internationalnews-151-20180319"),
    case(
        "transliteration", "آبل ضرائب 38 مليار", "bb-economy-39-20180118", "fr-economy-12-20180118"
    ),
    case("transliteration", "زوكربيرج سنة صعبة", "bb-economy-22-20180201"),
    # Latin script for entities the articles write in Arabic script.
    case("latin", "FIFA الكرت الأخضر", "cn-sport-1-20180218"),
    case("latin", "Apple آي فون إكس أرباح", "bb-technology-36-20180202", "fr-economy-5-20180202"),
    case("latin", "Facebook بلجيكا", "bb-technology-2-20180218", "sk-technology-9-20180217"),
    case("latin", "Google كاميرا", "sk-technology-119-20180228", "al-technology-72-20180228"),
    case("latin", "Macron دافوس", "fr-economy-9-20180124"),
    case("latin", "Erdogan 300 كلم عفرين", "cn-middleeast-16-20180217"),
    case("latin", "Airbus طيران الإمارات", "bb-economy-38-20180119", "fr-economy-13-20180118"),
    case("latin", "Liverpool Manchester City هزيمة", "bb-sport-37-20180115"),
    case("latin", "Barcelona فالنسيا", "bb-sport-22-20180202"),
    case("latin", "Netanyahu اتهامات الشرطة ادعاءات", "bb-middleeast-21-20180214"),
    case("latin", "SpaceX أقوى صاروخ", "cn-technology-14-20180206", "cn-technology-16-20180206"),
    case("latin", "Uber سيارات ذاتية القيادة", "cn-technology-63-20180320"),
    # Two and three plain words.
    case("words", "حذاء صلاح المتحف", "bb-sport-159-20180517"),
    case("words", "جورج بيل الفاتيكان", "bb-internationalnews-447-20180501"),
    case("words", "ريال مدريد بايرن", "fr-sport-47-20180403"),
    case("words", "تذاكر باريس سان جرمان", "fr-sport-12-20180203"),
    case("words", "عجين المغناطيس", "bb-economy-28-20180127"),
    case("words", "فولكسفاغن قردة", "bb-economy-23-20180131"),
    # Typos.
    case("typo", "فيسبوك بلجكا", "bb-technology-2-20180218", "sk-technology-9-20180217"),
    case("typo", "ايرباس طيران الامارات", "bb-economy-38-20180119", "fr-economy-13-20180118"),
    case("typo", "فولكسفاكن عوادم", "bb-economy-23-20180131"),
    case("typo", "السالمونيلاا حليب", "bb-technology-38-20180202"),
]


@dataclass
class Answer:
    case: Case
    ours: list[str]
    raw: list[str]

    def found(self, ids: list[str]) -> bool:
        return any(wanted in ids[:3] for wanted in self.case.wanted)


@pytest.fixture(scope="module")
def answers(servers) -> list[Answer]:  # type: ignore[no-untyped-def]
    fixture = IndexFixture(
        servers.meili_url,
        servers.meili_keys.index_key,
        servers.meili_keys.search_key,
        f"articles_rel_{secrets.token_hex(3)}",
    )

    async def run() -> list[Answer]:
        await fixture.load(load_corpus_articles(ARTICLES))
        client = fixture.service()
        try:
            return [
                Answer(
                    c,
                    await service_search(client, c.query, 3),
                    await raw_search(
                        fixture.meili_url, fixture.search_key, fixture.raw_index, c.query, 3
                    ),
                )
                for c in CASES
            ]
        finally:
            await client.aclose()

    found = asyncio.run(run())
    write_report(found)
    return found


def write_report(answers: list[Answer]) -> None:
    lines = [
        "# Search relevance: service vs raw Meilisearch (top 3)",
        "",
        "| kind | query | service | raw |",
        "|---|---|---|---|",
    ]
    for kind in dict.fromkeys(a.case.kind for a in answers):
        group = [a for a in answers if a.case.kind == kind]
        for a in group:
            lines.append(
                f"| {kind} | {a.case.query} | {'✓' if a.found(a.ours) else '✗'} "
                f"| {'✓' if a.found(a.raw) else '✗'} |"
            )
    ours = sum(a.found(a.ours) for a in answers)
    raw = sum(a.found(a.raw) for a in answers)
    lines += ["", f"service: {ours}/{len(answers)}; raw Meilisearch: {raw}/{len(answers)}"]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_at_least_fifty_cases_of_every_kind() -> None:
    assert len(CASES) >= 50
    kinds = {c.kind for c in CASES}
    assert {
        "clitic",
        "spelling",
        "derivation",
        "transliteration",
        "latin",
        "words",
        "typo",
    } <= kinds


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.query for c in CASES])
def test_query_finds_its_article_in_the_top_three(answers: list[Answer], index: int) -> None:
    answer = answers[index]
    assert answer.found(answer.ours), (
        f"{answer.case.kind} {answer.case.query!r}: wanted one of {answer.case.wanted}, "
        f"got {answer.ours}"
    )
