"""An archive no one here tuned on: SaudiNewsNet, 31,030 articles of 14 Saudi papers (Jul–Aug 2015).

The project's corpus is ANT (pan-Arab broadcasters, 2018) and ECB+ (English).
Issue 21 asks for known-item search on *another country's papers*, held out.
SaudiNewsNet (Alhagri 2015, github.com/parallelfold/SaudiNewsNet) is that:
different papers, a different country, three years earlier. It is not
bundled; bring it with

    git clone https://github.com/parallelfold/SaudiNewsNet /tmp/saudinewsnet
    mkdir -p /tmp/saudinewsnet/json && for z in /tmp/saudinewsnet/dataset/*.zip; do
        unzip -qo "$z" -d /tmp/saudinewsnet/json; done

and pass `--saudinewsnet /tmp/saudinewsnet/json` to `bench.known_item`.

Fields: source (the paper), url, date_extracted (after 1 August 2015 most
likely the publication day, Riyadh time), title, author, content (the body,
one paragraph a line). Papers reprint the Saudi Press Agency and each other:
`reprints` joins tellings of one story by their shared word 4-grams, as the
ANT silver pairs were found.
"""

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from khabar_ingest.formats.text import lines_to_html, strip_controls
from khabar_shared.events import Article
from khabar_shared.text import tokenize

RIYADH = timezone(timedelta(hours=3))
# A 4-gram shared by more articles than this is a formula ("وكالة الأنباء السعودية"), not a story.
_COMMON_SHINGLE = 12
# Share of the shorter telling's 4-grams the other must hold to be a reprint of it.
_REPRINT_SHARE = 0.5
_MIN_SHINGLES = 20


def saudi_articles(folder: Path) -> list[Article]:
    """Every article with a title and a body, oldest first, one per URL."""
    seen: set[str] = set()
    articles = []
    for path in sorted(folder.glob("*.json")):
        for record in json.loads(path.read_text(encoding="utf-8")):
            url = record.get("url") or ""
            title = " ".join(strip_controls(record.get("title") or "").split())
            body = strip_controls(record.get("content") or "").strip()
            if not title or not body or url in seen:
                continue
            seen.add(url)
            articles.append(_article(len(articles), record, title, body))
    return sorted(articles, key=lambda a: a.versioncreated)


def _article(number: int, record: dict[str, str], title: str, body: str) -> Article:
    published = datetime.fromisoformat(record["date_extracted"]).replace(tzinfo=RIYADH)
    lines = [line.strip() for line in body.split("\n") if line.strip()]
    return Article(
        id=f"sa-{record['source']}-{number}",
        uri=record["url"],
        language="ar",
        headline=title,
        lead=lines[0] if lines else "",
        body_html=lines_to_html(lines[1:]),
        byline=(record.get("author") or "").strip(),
        source=record["source"],
        firstcreated=published,
        versioncreated=published,
        extra={"corpus": "saudinewsnet"},
    )


def _shingles(article: Article) -> set[int]:
    words = tokenize(f"{article.lead} {article.body_html}")
    return {hash(tuple(words[i : i + 4])) for i in range(len(words) - 3)}


def reprints(articles: list[Article]) -> list[tuple[str, str]]:
    """Pairs of tellings of one story by different papers within two days of each other."""
    shingles = {a.id: _shingles(a) for a in articles}
    holders: dict[int, list[str]] = defaultdict(list)
    for article_id, grams in shingles.items():
        for gram in grams:
            holders[gram].append(article_id)
    shared: dict[tuple[str, str], int] = defaultdict(int)
    for ids in holders.values():
        if 1 < len(ids) <= _COMMON_SHINGLE:
            for first, *rest in _tails(sorted(ids)):
                for other in rest:
                    shared[first, other] += 1
    by_id = {a.id: a for a in articles}
    return [
        (a, b)
        for (a, b), count in shared.items()
        if _is_reprint(by_id[a], by_id[b], count, shingles)
    ]


def _tails(ids: list[str]) -> Iterator[list[str]]:
    for start in range(len(ids) - 1):
        yield ids[start:]


def _is_reprint(a: Article, b: Article, count: int, shingles: dict[str, set[int]]) -> bool:
    shorter = min(len(shingles[a.id]), len(shingles[b.id]))
    return (
        a.source != b.source
        and shorter >= _MIN_SHINGLES
        and count >= _REPRINT_SHARE * shorter
        and abs(a.versioncreated - b.versioncreated) <= timedelta(days=2)
    )
