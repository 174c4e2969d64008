"""The ANT corpus's records as articles, and its split into training and held-out parts.

The topic lexicon trains on six sevenths of the corpus (see `topic_lexicon`);
every seventh article is kept for measuring topic agreement (see
`bench.enrich_measures`).
"""

import gzip
import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from khabar_shared.events import Article

HELD_OUT_EVERY = 7  # article i of the corpus is held out when i % 7 == 0


def corpus_articles(path: Path, held_out: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, record) of the ANT corpus file: the held-out seventh, or the rest."""
    with gzip.open(path, "rb") as lines:
        for index, line in enumerate(lines):
            if (index % HELD_OUT_EVERY == 0) == held_out:
                yield index, orjson.loads(line)


def corpus_article(record: dict[str, Any]) -> Article:
    """An `Article` from one ANT corpus record (plain-text body, one paragraph a line)."""
    paragraphs = [line.strip() for line in (record.get("text") or "").splitlines() if line.strip()]
    return Article(
        id=record["docno"],
        uri=record.get("url") or record["docno"],
        language="ar",
        headline=record.get("title") or "",
        lead=record.get("abstract") or "",
        body_html="".join(f"<p>{html.escape(p)}</p>" for p in paragraphs),
        category=record["categories"][0],
        source=record.get("source") or "",
        versioncreated=record["published"],
    )
