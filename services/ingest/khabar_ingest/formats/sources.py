"""What an import reads: files and fetched feeds → ninjs documents to post.

`read_source(name, data)` decides by the name (and, for fetched URLs, the
content) what `data` holds; `read_file(path)` does the same for a file,
reading JSON lines as it goes (an archive of millions of articles is never
all in memory):

- `*.json`: one ninjs document, a list of them, or `{"items": [...]}`;
- `*.jsonl`, `*.ndjson` (optionally `.gz`): one JSON object per line, each a
  ninjs document or a corpus record (ANT or ECB+), which is converted;
- anything else: an RSS 2.0 or Atom feed.

Each item is a document, or the reason it could not be read (a broken JSON
line, a feed entry without a title); the server judges the documents.
"""

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .checks import guess_language
from .corpus import corpus_article
from .errors import InvalidArticle
from .feeds import read_feed
from .writer import article_to_ninjs

_JSON_LINES = (".jsonl", ".ndjson")


class SourceItem(BaseModel):
    where: str
    document: dict[str, Any] | None = None
    problem: str | None = None


def read_source(name: str, data: bytes) -> Iterator[SourceItem]:
    """The documents in `data`, which was read from the file or URL `name`."""
    base = name.lower().split("?")[0]
    if base.endswith(".gz"):
        data, base = gzip.decompress(data), base.removesuffix(".gz")
    if base.endswith(_JSON_LINES):
        yield from _json_lines(name, data.split(b"\n"))
    elif base.endswith(".json") or data.lstrip()[:1] in (b"{", b"["):
        yield from _json_document(name, data)
    else:
        yield from _feed(name, data)


def read_file(path: Path) -> Iterator[SourceItem]:
    """The documents in a file, JSON lines read line by line (also gzipped ones)."""
    name = str(path)
    base = name.lower()
    if base.removesuffix(".gz").endswith(_JSON_LINES):
        with gzip.open(path) if base.endswith(".gz") else path.open("rb") as lines:
            yield from _json_lines(name, lines)
    else:
        yield from read_source(name, path.read_bytes())


def _json_lines(name: str, lines: Iterable[bytes]) -> Iterator[SourceItem]:
    # Lines end at b"\n" only (str.splitlines() would also cut at U+2028 and friends in text).
    for number, raw in enumerate(lines, 1):
        line = raw.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            record = json.loads(line)
        except ValueError as error:
            yield SourceItem(where=where, problem=f"not JSON: {error}")
            continue
        yield _record(where, record)


def _json_document(name: str, data: bytes) -> Iterator[SourceItem]:
    try:
        document = json.loads(data)
    except ValueError as error:
        yield SourceItem(where=name, problem=f"not JSON: {error}")
        return
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        document = document["items"]
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        yield _record(f"{name}#/{index}" if isinstance(document, list) else name, record)


def _record(where: str, record: Any) -> SourceItem:
    if not isinstance(record, dict):
        return SourceItem(where=where, problem="not a JSON object")
    if not is_corpus_record(record):
        return SourceItem(where=where, document=record)
    try:
        return SourceItem(where=where, document=article_to_ninjs(corpus_article(record)))
    except (ValidationError, ValueError, KeyError) as error:
        return SourceItem(where=where, problem=f"corpus record unreadable: {error}"[:300])


def is_corpus_record(record: dict[str, Any]) -> bool:
    return ("docno" in record and "text" in record) or ("sentences" in record and "doc" in record)


def _feed(name: str, data: bytes) -> Iterator[SourceItem]:
    language = guess_language(data[:20000].decode("utf-8", errors="ignore"))
    try:
        result = read_feed(data, default_language=language, source=_source_name(name))
    except InvalidArticle as error:
        yield SourceItem(where=name, problem=str(error)[:300])
        return
    for article in result.articles:
        yield SourceItem(where=f"{name}#{article.id}", document=article_to_ninjs(article))
    for skipped in result.skipped:
        yield SourceItem(where=f"{name}#{skipped.pointer}", problem=skipped.message)


def _source_name(name: str) -> str:
    """'https://www.example.com/rss.xml' → 'www.example.com'; a file → its stem."""
    if "://" in name:
        return name.split("://", 1)[1].split("/", 1)[0]
    return name.rsplit("/", 1)[-1].split(".", 1)[0]
