"""The development corpora → Articles: ANT Arabic news and ECB+ English events.

ANT (`ant-arabic-news-2018h1.jsonl.gz`, fields docno, url, source, categories,
published, author, title, abstract, text):

- id: the docno lower-cased (`BB-sport-40-20180112` → `bb-sport-40-20180112`);
  uri: the docno itself, so `article_id_from_uri(uri)` gives the same id.
- body_html: one `<p>` per line of `text`, short lines without final
  punctuation as `<h2>` subheads, everything HTML-escaped; known boilerplate
  lines (opinion disclaimer, app promos, agency signature) dropped.
- lead: the abstract; category: the first category as a site section
  (internationalNews → world, middleEast → middle-east, ...); language 'ar';
  source: the outlet as the corpus names it (see `OUTLET_NAMES`).

ECB+ (`ecbplus-english-events-topics01-20.jsonl.gz`, fields doc, topic, event,
sentences): id `ecb-<doc without .xml>`; headline: the first sentence that is
not a URL; a short date line right after it gives the date (else `UNDATED`);
the rest, lightly detokenized, one `<p>` per sentence; language 'en'. The
original ECB documents (`<n>_<m>ecb.xml`, not `ecbplus`) mostly have no
headline: they begin with the story's first sentence. One that begins with prose
(a sentence ending in `.`, `!` or `?`) keeps it as its first paragraph, and its
headline is that sentence, cut at a word boundary to `HEADLESS_HEADLINE_CHARS`.

Both keep their corpus fields (docno, categories, topic, event) in `extra`,
which evaluations of related-story detection can use.
"""

import gzip
import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from khabar_shared.events import Article
from khabar_shared.logging import get_logger
from khabar_shared.sections import sections

from .checks import is_web_url, parse_timestamp
from .ids import article_id_from_uri
from .text import lines_to_html, strip_controls

log = get_logger(__name__)

OUTLET_NAMES = {
    "alarabia": "العربية",
    "BBC": "بي بي سي عربي",
    "CNN": "CNN بالعربية",
    "france24": "فرانس 24",
    "skynews": "سكاي نيوز عربية",
}
UNDATED = datetime(2000, 1, 1, tzinfo=UTC)
# A headline made of a headless ECB document's first sentence is cut to ingest's default
# headline limit (`Limits.max_headline_chars`, KHABAR_MAX_HEADLINE_CHARS): every such headline
# that fit stays as it was, and none is refused (422) as too long.
HEADLESS_HEADLINE_CHARS = 300

# Lines that are the outlet's furniture, not the story (see the corpus README).
_BOILERPLATE = re.compile(
    r"^\*+\s*جميع المقالات المنشورة تمثل رأي كتابها فقط"
    r"|^يمكنكم (استلام|تسلم) إشعارات بأهم الموضوعات"
    r"|^فرانس\s?24\s?/\s?أ ف ب\.?$"
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


class AntRecord(BaseModel):
    docno: str
    url: str | None = None
    source: str
    categories: list[str]
    published: str
    author: str | None = None
    title: str
    abstract: str | None = None
    text: str


class EcbRecord(BaseModel):
    doc: str
    topic: int
    event: str
    sentences: list[str]


def ant_article(record: dict[str, Any] | AntRecord) -> Article:
    """One ANT corpus line as an Article (ValueError if its date has no offset)."""
    ant = record if isinstance(record, AntRecord) else AntRecord.model_validate(record)
    published, problem = parse_timestamp(ant.published)
    if published is None:
        raise ValueError(f"{ant.docno}: published {problem}")
    text = strip_controls(ant.text)
    lines = [line for line in text.split("\n") if not _BOILERPLATE.match(line.strip())]
    author = (ant.author or "").strip()
    return Article(
        id=ant.docno.lower(),
        uri=ant.docno,
        language="ar",
        headline=" ".join(strip_controls(ant.title).split()),
        lead=" ".join(strip_controls(ant.abstract or "").split()),
        body_html=lines_to_html(lines),
        byline="" if _UUID.match(author) else author,
        **(sections().category(ant.categories[0]).as_fields() if ant.categories else {}),
        source=ant.source,
        url=ant.url if ant.url and is_web_url(ant.url) else None,
        firstcreated=published,
        versioncreated=published,
        extra={"corpus": "ant-2.1", "docno": ant.docno, "categories": ant.categories},
    )


def ecb_article(record: dict[str, Any] | EcbRecord) -> Article:
    """One ECB+ document as an English Article."""
    ecb = record if isinstance(record, EcbRecord) else EcbRecord.model_validate(record)
    sentences = [detokenize(s) for s in ecb.sentences if s.strip()]
    url = next((_join_url(s) for s in sentences[:1] if _is_url(s)), None)
    rest = [s for s in sentences if not _is_url(s)]
    if not rest:
        raise ValueError(f"{ecb.doc}: no sentence to make a headline of")
    if _is_headless(ecb.doc, rest[0]):
        headline = _cut_at_word(rest[0], HEADLESS_HEADLINE_CHARS)
    else:
        headline, rest = rest[0], rest[1:]
    published = None
    for index, sentence in enumerate(rest[:4]):
        published = find_date(sentence) if _is_dateline(sentence) else None
        if published is not None:
            del rest[index]  # a dateline is not body text
            break
    uri = "ecb-" + ecb.doc.removesuffix(".xml").lower()
    return Article(
        id=article_id_from_uri(uri),
        uri=uri,
        language="en",
        headline=headline,
        lead=rest[0] if rest else "",
        body_html="\n".join(f"<p>{html.escape(s, quote=False)}</p>" for s in rest),
        source=urlsplit(url).netloc.removeprefix("www.") if url else "ecb+",
        url=url if url and is_web_url(url) else None,
        versioncreated=published or UNDATED,
        extra={"corpus": "ecb+", "doc": ecb.doc, "topic": ecb.topic, "event": ecb.event},
    )


def corpus_article(record: dict[str, Any]) -> Article:
    """An ANT or ECB+ record, whichever it is."""
    return ecb_article(record) if "sentences" in record else ant_article(record)


def iter_records(path: Path | str, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The raw JSON objects of a .jsonl or .jsonl.gz file, streamed."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        count = 0
        for line in lines:
            if limit is not None and count >= limit:
                return
            if line.strip():
                count += 1
                yield json.loads(line)


def iter_corpus(path: Path | str, limit: int | None = None) -> Iterator[Article]:
    """Articles from a corpus file, one at a time; lines that can't be read are logged and
    skipped."""
    for number, record in enumerate(iter_records(path, limit), start=1):
        try:
            yield corpus_article(record)
        except (ValidationError, ValueError) as error:
            log.warning("corpus_line_skipped", path=str(path), line=number, reason=str(error)[:300])


# ---- ECB+ text ------------------------------------------------------------------

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_PATTERNS = (
    (
        re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.IGNORECASE),
        ("m", "d", "y"),
    ),
    (re.compile(r"(\d{1,2})\s+" + _MONTH + r",?\s+(\d{4})", re.IGNORECASE), ("d", "m", "y")),
    (re.compile(r"(\d{4})\s*-\s*(\d{2})\s*-\s*(\d{2})"), ("y", "mn", "d")),
    (re.compile(r"(\d{2})\s*/\s*(\d{2})\s*/\s*(\d{4})"), ("mn", "d", "y")),
)


def find_date(text: str) -> datetime | None:
    """The first calendar date in a short dateline ('May 03, 2013', '14 June 2013'), at 00:00
    UTC."""
    for pattern, order in _DATE_PATTERNS:
        match = pattern.search(text)
        if match is None:
            continue
        parts = dict(zip(order, match.groups(), strict=True))
        month = _MONTHS[parts["m"][:3].lower()] if "m" in parts else int(parts["mn"])
        try:
            return datetime(int(parts["y"]), month, int(parts["d"]), tzinfo=UTC)
        except ValueError:
            return None
    return None


_DETOKENIZE = (
    (re.compile(r"``\s*"), '"'),
    (re.compile(r"\s*''"), '"'),
    (re.compile(r"\s+([,.;:!?%)\]])"), r"\1"),
    (re.compile(r"([(\[$])\s+"), r"\1"),
    (re.compile(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE), r"\1"),
    (re.compile(r"(?<=\w) - (?=\w)"), "-"),
    (re.compile(r"(?<=\d): (?=\d)"), ":"),
)


def detokenize(sentence: str) -> str:
    """Undo the corpus tokenizer's spaces: "`` Hi , '' she said" → '"Hi," she said'."""
    text = sentence.strip()
    for pattern, replacement in _DETOKENIZE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def _is_dateline(sentence: str) -> bool:
    """'Published: May 2, 2013', not 'Page was born on April 22, 1923, in Nashville.'"""
    if len(sentence) >= 80:
        return False
    for pattern, _ in _DATE_PATTERNS:
        match = pattern.search(sentence)
        if match:
            prefix_words = len(sentence[: match.start()].split())
            return prefix_words <= 4 and (prefix_words == 0 or not sentence.endswith("."))
    return False


# A sentence of prose ends so; a headline rarely does ("Tara Reid Finally Checks Into Rehab").
_PROSE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")


def _is_headless(doc: str, first: str) -> bool:
    """An original ECB document (ECB+ ones start with a URL, a headline, a date) whose first
    sentence is the story's: it has no headline of its own."""
    return not doc.endswith("ecbplus.xml") and _PROSE_END.search(first) is not None


def _cut_at_word(sentence: str, limit: int) -> str:
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "\u2026"


def _is_url(sentence: str) -> bool:
    return re.match(r"^https?\s*:", sentence.strip(), re.IGNORECASE) is not None


def _join_url(sentence: str) -> str:
    return re.sub(r"\s+", "", sentence)
