"""Known-item relevance of search, beside raw Meilisearch.

    .venv/bin/python -m bench.relevance [--articles 3000] [--items 500]

Indexes real corpus articles the way the indexer does (enriched with the
shared text pipeline and enrich's tagger, then `to_document`), then, for
`--items` of them, asks for 2–3 salient words of the article (highest
IDF-weighted terms of its headline, in their surface form) and reports the
mean reciprocal rank of the article: through the service's query (`query.py`)
and through a plain Meilisearch search of the same words.

The helpers here (`enriched_article`, `load_corpus_articles`, `IndexFixture`)
are also what the relevance test suite indexes with.
"""

import argparse
import asyncio
import html
import math
import re
import secrets
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from khabar_dev.corpus import ANT, corpus_file
from khabar_dev.processes import ProcessGroup, free_port, start_meili
from khabar_ingest.formats.corpus import iter_corpus
from khabar_search.documents import to_document
from khabar_search.meili import MeiliWriter
from khabar_search.query import SearchClient, SearchParams
from khabar_search.synonyms import load_synonyms
from khabar_shared.events import Article, EnrichedArticle, EnrichedEvent
from khabar_shared.meili_setup import provision_keys
from khabar_shared.text import analyze, is_stopword, term, tokenize

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_AR = REPO_ROOT / "samples/articles.ar.jsonl.gz"
CORPUS_AR = corpus_file(ANT)
_TAG = re.compile(r"<[^>]+>")


def enriched_article(article: Article, version: int = 1) -> EnrichedArticle:
    """What enrich would emit for `article`: tags, topic and the analyzed search text."""
    from khabar_enrich.tagging import tag_article  # the tests' and bench's stand-in for enrich

    tagged = tag_article(article)
    body = html.unescape(_TAG.sub(" ", article.body_html))
    words = [*analyze(article.headline), *analyze(article.lead), *analyze(body)]
    return EnrichedArticle(
        article=article,
        version=version,
        tags=tagged.tags,
        topic=tagged.topic,
        story_id=article.id,
        search_text=" ".join(words),
        enriched_at=datetime.now(UTC),
    )


def versioned_event(article: Article, version: int, withdrawn: bool = False) -> EnrichedEvent:
    """Version `version` of `article` as enrich would send it (headline marked "(vN)")."""
    changed = article.model_copy(update={"headline": f"{article.headline} (v{version})"})
    return EnrichedEvent(
        event_id=str(uuid.uuid4()),
        type="article.withdrawn" if withdrawn else "article.enriched",
        article_id=article.id,
        version=version,
        correlation_id=str(uuid.uuid4()),
        source_event_id=str(uuid.uuid4()),
        enriched=None if withdrawn else enriched_article(changed, version),
    )


def load_corpus_articles(count: int) -> list[Article]:
    """The bundled sample first, then corpus articles until `count` (ids unique)."""
    found: dict[str, Article] = {}
    for path in (SAMPLE_AR, CORPUS_AR):
        if not path.exists():
            continue
        for article in iter_corpus(path):
            if article.headline and article.id not in found:
                found[article.id] = article
            if len(found) >= count:
                return list(found.values())
    return list(found.values())


@dataclass
class IndexFixture:
    """A Meilisearch with one index of real articles, for relevance runs."""

    meili_url: str
    index_key: str
    search_key: str
    index: str

    def service(self) -> SearchClient:
        return SearchClient(self.meili_url, self.search_key, self.index)

    @property
    def raw_index(self) -> str:
        return f"{self.index}_raw"

    async def load(self, articles: Iterable[Article], batch: int = 1000) -> None:
        """The service's index (settings, synonyms, enriched documents) and a raw one.

        The raw index is what Meilisearch gives without this service: the same
        articles' headline, lead and body, default settings.
        """
        writer = MeiliWriter(self.meili_url, self.index_key, self.index)
        raw = MeiliWriter(self.meili_url, self.index_key, self.raw_index)
        await writer.ensure_index(load_synonyms())
        await raw.ensure_index(plain=True)
        docs = [to_document(enriched_article(a)).model_dump() for a in articles]
        plain = [{k: d[k] for k in ("id", "headline", "lead", "body", "published")} for d in docs]
        for start in range(0, len(docs), batch):
            await writer.apply(docs[start : start + batch], [])
            await raw.apply(plain[start : start + batch], [])


async def raw_search(meili_url: str, key: str, index: str, q: str, limit: int = 10) -> list[str]:
    """Plain Meilisearch: the same words, no analysis, no federation."""
    async with httpx.AsyncClient(
        base_url=meili_url, timeout=10, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        answer = await http.post(
            f"/indexes/{index}/search",
            json={"q": q, "limit": limit, "attributesToRetrieve": ["id"]},
        )
        answer.raise_for_status()
        return [hit["id"] for hit in answer.json()["hits"]]


async def service_search(client: SearchClient, q: str, limit: int = 10) -> list[str]:
    result = await client.search(SearchParams(q=q, per_page=limit))
    return [hit.id for hit in result.hits]


def document_frequencies(articles: list[Article]) -> Counter[str]:
    df: Counter[str] = Counter()
    for article in articles:
        df.update(set(analyze(f"{article.headline} {article.lead}")))
    return df


def salient_query(article: Article, df: Counter[str], total: int, words: int = 3) -> str:
    """2–3 headline words with the highest IDF, as written (minus clitics' noise)."""
    scored: dict[str, float] = {}
    for token in tokenize(article.headline):
        if len(token) < 3 or is_stopword(token) or token.isdigit():
            continue
        stem = term(token)
        if stem is None:
            continue
        scored.setdefault(token, math.log(total / (1 + df[stem])))
    best = sorted(scored, key=lambda t: -scored[t])[:words]
    return " ".join(best)


def reciprocal_rank(found: list[str], wanted: str) -> float:
    return 1.0 / (found.index(wanted) + 1) if wanted in found else 0.0


async def known_item_mrr(
    fixture: IndexFixture, articles: list[Article], items: int
) -> tuple[float, float, int]:
    df = document_frequencies(articles)
    step = max(1, len(articles) // items)
    chosen = articles[::step][:items]
    client = fixture.service()
    ours, raw, asked = 0.0, 0.0, 0
    try:
        for article in chosen:
            q = salient_query(article, df, len(articles))
            if len(q.split()) < 2:
                continue
            asked += 1
            ours += reciprocal_rank(await service_search(client, q), article.id)
            raw += reciprocal_rank(
                await raw_search(fixture.meili_url, fixture.search_key, fixture.raw_index, q),
                article.id,
            )
    finally:
        await client.aclose()
    return ours / max(asked, 1), raw / max(asked, 1), asked


async def run(articles_count: int, items: int) -> None:
    console = Console()
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-relevance-") as tmp:
        try:
            master = secrets.token_hex(16)
            url = start_meili(group, Path(tmp) / "meili", free_port(), master)
            keys = provision_keys(url, master)
            fixture = IndexFixture(url, keys.index_key, keys.search_key, "articles")
            articles = load_corpus_articles(articles_count)
            with console.status(f"indexing {len(articles)} articles"):
                await fixture.load(articles)
            ours, raw, asked = await known_item_mrr(fixture, articles, items)
        finally:
            group.stop_all()
    table = Table(title=f"Known-item MRR@10, {asked} queries over {len(articles)} articles")
    table.add_column("engine")
    table.add_column("MRR", justify="right")
    table.add_row("khabar search (query.py: words + stems, merged)", f"{ours:.3f}")
    table.add_row("raw Meilisearch (default settings, same articles)", f"{raw:.3f}")
    console.print(table)
    console.print("goal ≥ 0.85: " + ("met" if ours >= 0.85 else "NOT met"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--items", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.articles, args.items))


if __name__ == "__main__":
    main()
