"""Latin-script names of things the archive writes in Arabic: MRR@10 of raw Meilisearch,
search without the transliteration fallback, and search with it.

    .venv/bin/python -m bench.latin_names [--articles 3000]

The judged queries are in `bench/data/latin_names.json`: a brand, product,
film or person typed in Latin script, the Arabic spellings the corpus uses
for it, and why. An article is relevant when its headline or lead names the
entity in one of those spellings (as a whole word, clitics aside); the
judgment was made by reading the corpus's spellings, not by running search.
The index holds `--articles` corpus articles plus every relevant article.

Beside them, a control set: Latin queries that already work through the
gazetteer's synonyms (Messi, Uber, Samsung…). Their MRR must not change:
the fallback runs only when the query as typed finds little, and the table
says how often it ran for each set.

Run of 2026-12-07 (`--articles 1000`: 2,266 articles; 43 judged, 12 control):

| set | raw Meilisearch | search, no fallback | search, fallback | fallback ran |
|---|---|---|---|---|
| judged Latin names | 0.107 | 0.119 | 0.809 | 93% |
| control (synonyms) | 0.292 | 1.000 | 1.000 | 8% |

Learned aliases add little here: the corpus glosses few of these names in
Latin (18 pairs in 21,320 articles); they matter for names the rules spell
wrong (Peugeot بيجو, Alibaba علي بابا).
"""

import argparse
import asyncio
import json
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.relevance import CORPUS_AR, IndexFixture, load_corpus_articles, raw_search
from khabar_dev.processes import ProcessGroup, free_port, start_meili
from khabar_ingest.formats.corpus import iter_corpus
from khabar_search import fallback
from khabar_search.query import SearchClient, SearchParams
from khabar_shared.events import Article
from khabar_shared.meili_setup import provision_keys
from khabar_shared.text import strip_clitics, tokenize

JUDGED = Path(__file__).parent / "data/latin_names.json"
CONTROL = [
    ("Messi", ["ميسي"]),
    ("Ronaldo", ["رونالدو"]),
    ("Uber", ["أوبر"]),
    ("Samsung", ["سامسونغ"]),
    ("Tesla", ["تسلا"]),
    ("YouTube", ["يوتيوب"]),
    ("Macron", ["ماكرون"]),
    ("Merkel", ["ميركل"]),
    ("Boeing", ["بوينغ"]),
    ("Airbus", ["إيرباص"]),
    ("Zuckerberg", ["زوكربيرغ"]),
    ("Pompeo", ["بومبيو"]),
]


@dataclass
class Judged:
    query: str
    spellings: list[str]
    relevant: set[str]


def _words(text: str) -> str:
    return " " + " ".join(strip_clitics(token) for token in tokenize(text)) + " "


def names(article: Article, spellings: list[str]) -> bool:
    shown = _words(f"{article.headline} {article.lead[:300]}")
    return any(_words(spelling) in shown for spelling in spellings)


def judge(queries: list[tuple[str, list[str]]], articles: list[Article]) -> list[Judged]:
    return [
        Judged(q, spellings, {a.id for a in articles if names(a, spellings)})
        for q, spellings in queries
    ]


def corpus_articles_naming(queries: list[tuple[str, list[str]]]) -> list[Article]:
    found = []
    for article in iter_corpus(CORPUS_AR):
        if any(names(article, spellings) for _, spellings in queries):
            found.append(article)
    return found


def reciprocal_rank(found: list[str], relevant: set[str]) -> float:
    for rank, article_id in enumerate(found[:10], 1):
        if article_id in relevant:
            return 1.0 / rank
    return 0.0


async def score(fixture: IndexFixture, judged: list[Judged]) -> dict[str, float]:
    plain = SearchClient(fixture.meili_url, fixture.search_key, fixture.index, transliterate=False)
    guessing = fixture.service()
    totals = {"raw": 0.0, "without": 0.0, "with": 0.0, "fallback ran": 0.0}
    try:
        for item in judged:
            raw = await raw_search(
                fixture.meili_url, fixture.search_key, fixture.raw_index, item.query
            )
            before = await plain.search(SearchParams(q=item.query, per_page=10))
            after = await guessing.search(SearchParams(q=item.query, per_page=10))
            totals["raw"] += reciprocal_rank(raw, item.relevant)
            totals["without"] += reciprocal_rank([h.id for h in before.hits], item.relevant)
            totals["with"] += reciprocal_rank([h.id for h in after.hits], item.relevant)
            totals["fallback ran"] += before.total < 10 and bool(fallback.guesses(item.query))
    finally:
        await plain.aclose()
        await guessing.aclose()
    return {name: value / max(len(judged), 1) for name, value in totals.items()}


async def run(articles_count: int) -> None:
    console = Console()
    queries = [(j["query"], j["arabic"]) for j in json.loads(JUDGED.read_text())]
    articles = {a.id: a for a in load_corpus_articles(articles_count)}
    articles.update({a.id: a for a in corpus_articles_naming(queries + CONTROL)})
    everything = list(articles.values())
    judged, control = judge(queries, everything), judge(CONTROL, everything)
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-latin-") as tmp:
        try:
            master = secrets.token_hex(16)
            url = start_meili(group, Path(tmp) / "meili", free_port(), master)
            keys = provision_keys(url, master)
            fixture = IndexFixture(url, keys.index_key, keys.search_key, "articles")
            with console.status(f"indexing {len(everything)} articles"):
                await fixture.load(everything)
            results = {
                "judged": await score(fixture, judged),
                "control": await score(fixture, control),
            }
        finally:
            group.stop_all()
    table = Table(title=f"MRR@10 over {len(everything)} articles")
    for column in (
        "set",
        "queries",
        "raw Meilisearch",
        "search, no fallback",
        "search, fallback",
        "fallback ran",
    ):
        table.add_column(column, justify="right")
    for name, counted in (("judged Latin names", judged), ("control (synonyms)", control)):
        row = results["judged" if counted is judged else "control"]
        table.add_row(
            name,
            str(len(counted)),
            f"{row['raw']:.3f}",
            f"{row['without']:.3f}",
            f"{row['with']:.3f}",
            f"{row['fallback ran']:.0%}",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(run(args.articles))


if __name__ == "__main__":
    main()
