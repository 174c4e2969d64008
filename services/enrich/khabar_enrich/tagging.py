"""Tagging an article: entities, topics and keyphrases, from one pass over its words.

    result = tag_article(article)
    result.tags      # people, places, organisations, topics, keyphrases as `Tag`s
    result.topic     # main topic slug, e.g. "sport"
    result.terms     # analyzed terms (normalized, stemmed, no stop words) for search

The article is read once: headline, lead and body are cut into clauses at
punctuation, every word gets its matching key (gazetteer) and its index term
(topics, search); all per-word work is memoized in the text package.
"""

import html
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from khabar_enrich.gazetteer import Gazetteer, Mention, gazetteer, token_key
from khabar_enrich.keyphrases import Token, extract_keyphrases, make_token
from khabar_enrich.topics import TOPICS, corpus_articles, score_topics, term_counts, topic_agreement
from khabar_shared.events import Article, Tag
from khabar_shared.text import WORD, normalize_arabic, term

# Where a mention is weighs: a headline mention says more than a body mention.
PART_WEIGHT = {"headline": 3.0, "lead": 1.5, "body": 1.0}
ATTRIBUTION_WEIGHT = 0.25  # "(Reuters)", "قالت وكالة فرانس برس": the source, not the subject
MAX_PER_TYPE = 5
MIN_ENTITY_WEIGHT = 1.0

TOPIC_NAMES: dict[str, dict[str, str]] = {
    "politics": {"ar": "سياسة", "en": "Politics"},
    "economy": {"ar": "اقتصاد", "en": "Economy"},
    "business": {"ar": "أعمال", "en": "Business"},
    "sport": {"ar": "رياضة", "en": "Sport"},
    "technology": {"ar": "تكنولوجيا", "en": "Technology"},
    "health": {"ar": "صحة", "en": "Health"},
    "culture": {"ar": "ثقافة وفن", "en": "Culture"},
    "middle-east": {"ar": "الشرق الأوسط", "en": "Middle East"},
    "africa": {"ar": "أفريقيا", "en": "Africa"},
    "asia": {"ar": "آسيا", "en": "Asia"},
    "europe": {"ar": "أوروبا", "en": "Europe"},
    "americas": {"ar": "الأمريكيتان", "en": "Americas"},
}
assert set(TOPIC_NAMES) == set(TOPICS)

_CLAUSE_BREAK = re.compile(r"[.,;:!?()\[\]{}\"«»،؛؟…\n\r\t|/–—]+|\s-\s")
_DIACRITICS = {c: None for c in [*range(0x064B, 0x0653), 0x0670, 0x0640]}
_BLOCK_END = re.compile(r"</(p|div|h[1-6]|li|blockquote|figcaption|tr)>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
# "دبي، الإمارات العربية المتحدة (CNN) --" and "لندن - رويترز": where the story was filed.
_DATELINE = re.compile(
    r"^(?:[^\n.]{0,60}?\([^)\n]{1,25}\)\s*[-–—]+"  # City, Country (Agency) --
    r"|(?:[^\s.،]+\s){0,2}[^\s.،]+\s[-–—]+\s)"  # City - , up to three words before the dash
)


class TagResult(BaseModel):
    """What the tagger found: every tag, and the topic and phrase slugs on their own."""

    tags: list[Tag] = Field(default_factory=list)
    topic: str = Field(description="Main topic slug.")
    topics: list[str] = Field(default_factory=list, description="Main topic first, then up to 3 more.")
    keyphrases: list[str] = Field(default_factory=list)
    terms: list[str] = Field(default_factory=list, description="Analyzed terms of the whole article.")


@dataclass
class _Part:
    name: str
    segments: list[list[Token]]
    terms: list[str]


def html_to_text(fragment: str) -> str:
    """Plain text of body HTML: block ends become line breaks, tags go, entities decode."""
    text = html.unescape(_TAG.sub(" ", _BLOCK_END.sub("\n", fragment)))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def strip_dateline(text: str) -> str:
    """The text without a leading "City (Agency) --" or "City - " dateline."""
    return _DATELINE.sub("", text, count=1).lstrip()


def read_part(name: str, text: str) -> _Part:
    """Cut text into clauses of tokens, each with display form, normal form and keys."""
    segments: list[list[Token]] = []
    terms: list[str] = []
    for clause in _CLAUSE_BREAK.split(text.translate(_DIACRITICS)):
        tokens = [word_token(raw) for raw in WORD.findall(clause)]
        if tokens:
            segments.append(tokens)
            terms += [t.term for t in tokens if t.term is not None]
    return _Part(name, segments, terms)


@lru_cache(maxsize=400_000)
def word_token(raw: str) -> Token:
    """A word as written, read once: news vocabulary repeats, so most words are a lookup."""
    arabic_normal = normalize_arabic(raw)
    norm = arabic_normal.lower()
    return make_token(raw, norm, token_key(arabic_normal), term(norm))


def read_article(article: Article) -> list[_Part]:
    body = strip_dateline(html_to_text(article.body_html).strip())
    parts = [read_part("headline", article.headline), read_part("body", body)]
    lead = article.lead.strip()
    if lead and not _repeats(lead, body):
        parts.insert(1, read_part("lead", strip_dateline(lead)))
    return parts


def _repeats(lead: str, body: str) -> bool:
    """The ANT leads (and many newsroom leads) repeat the body's first paragraph."""
    start = " ".join(lead.split()[:12])
    return start in " ".join(body[: len(lead) + 200].split())


def _entity_weights(parts: list[_Part], gaz: Gazetteer) -> tuple[Counter[str], set[tuple[str, ...]]]:
    """Weighted mentions per entity, and the key phrases of the names found."""
    found: list[tuple[Mention, float]] = []
    phrases: set[tuple[str, ...]] = set()
    for part in parts:
        for segment in part.segments:
            keys = [t.key for t in segment]
            for mention in gaz.find_keys(keys):
                entity = gaz.entities[mention.entity_id]
                weight = PART_WEIGHT[part.name] * (ATTRIBUTION_WEIGHT if entity.attribution else 1.0)
                found.append((mention, weight))
                phrases.add(tuple(k.lower() for k in keys[mention.start : mention.end]))
    # A bare surname counts only when the article names the entity in full somewhere.
    named = {m.entity_id for m, _ in found if not m.needs_confirmation}
    weights: Counter[str] = Counter()
    for mention, weight in found:
        if mention.entity_id in named:
            weights[mention.entity_id] += weight
    return weights, phrases


def entity_tags(weights: Counter[str], gaz: Gazetteer, lang: str) -> list[Tag]:
    """The strongest entities, at most MAX_PER_TYPE of each type, scored 0..1."""
    per_type: Counter[str] = Counter()
    tags = []
    for entity_id, weight in weights.most_common():
        entity = gaz.entities[entity_id]
        if weight < MIN_ENTITY_WEIGHT or per_type[entity.type] >= MAX_PER_TYPE:
            continue
        per_type[entity.type] += 1
        tags.append(
            Tag(
                id=entity.id,
                type=entity.type,
                name=entity.name(lang),
                names={"ar": entity.ar, "en": entity.en},
                score=round(weight / (weight + 3.0), 3),
            )
        )
    return tags


def region_weights(weights: Counter[str], gaz: Gazetteer) -> dict[str, float]:
    regions: Counter[str] = Counter()
    for entity_id, weight in weights.items():
        region = gaz.entities[entity_id].region
        if region is not None:
            regions[region] += weight
    return dict(regions)


def warm_up() -> None:
    """Load the gazetteer, lexicons and word lists now (about a second), not on the first event."""
    gazetteer()
    tag_article(
        Article(id="warm-up", uri="warm-up", language="ar", headline="والحكومة اللبنانية",
                body_html="<p>قال الرئيس دونالد ترامب إن الاتحاد الأوروبي</p>",
                versioncreated=datetime(2018, 1, 1, tzinfo=timezone.utc))
    )


def tag_article(article: Article, use_category: bool = True) -> TagResult:
    """Entities, topics and keyphrases of one article.

    `use_category=False` ignores the newsroom's category (for measuring how
    well the text alone finds the topic).
    """
    lang = article.base_language
    gaz = gazetteer()
    parts = read_article(article)
    weights, entity_phrases = _entity_weights(parts, gaz)
    headline = parts[0]
    body_terms = [t for part in parts[1:] for t in part.terms]
    ranked = score_topics(
        term_counts(headline.terms, body_terms),
        region_weights(weights, gaz),
        article.category if use_category else "",
    )
    phrases = extract_keyphrases(
        headline.segments, [s for part in parts[1:] for s in part.segments], entity_phrases
    )
    tags = entity_tags(weights, gaz, lang)
    tags += [
        Tag(id=f"topic:{slug}", type="topic", name=TOPIC_NAMES[slug].get(lang, TOPIC_NAMES[slug]["en"]),
            names=TOPIC_NAMES[slug], score=score)
        for slug, score in ranked
    ]
    tags += [
        Tag(id="keyphrase:" + "-".join(phrase.split()), type="keyphrase", name=phrase, score=score)
        for phrase, score in phrases
    ]
    return TagResult(
        tags=tags,
        topic=ranked[0][0],
        topics=[slug for slug, _ in ranked],
        keyphrases=[phrase for phrase, _ in phrases],
        terms=headline.terms + body_terms,
    )


# ---------------------------------------------------------------- measuring on the corpus


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


def measure_topic_agreement(
    corpus: Path, limit: int = 3000, use_category: bool = False
) -> dict[str, Any]:
    """Topic agreement with the corpus categories on up to `limit` held-out articles.

    Held out: the articles the topic lexicon was not trained on (see topics.py).
    """
    records = (record for _, record in corpus_articles(corpus, held_out=True))
    pairs = (
        (record["categories"], tag_article(corpus_article(record), use_category).topic)
        for record in islice(records, limit)
    )
    return topic_agreement(pairs)
