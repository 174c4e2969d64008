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
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from importlib import resources
from itertools import chain
from operator import attrgetter, is_not

from pydantic import BaseModel, Field

from khabar_enrich.gazetteer import Gazetteer, Mention, gazetteer, token_key
from khabar_enrich.keyphrases import CLAUSE_END, Token, extract_keyphrases, make_token
from khabar_enrich.topics import CATEGORY_TOPIC, TOPICS, score_topics, term_counts
from khabar_shared.events import Article, Tag
from khabar_shared.sections import sections
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
# Within a chunk of text, one pass finds the clause breaks and the words between them: no
# word holds a character a break starts with (punctuation, white space), so each is found
# where the two-pass way (split at breaks, then find the words of each clause) finds it.
_PIECE = re.compile(f"{_CLAUSE_BREAK.pattern}|{WORD.pattern}")
# The diacritics and tatweel dropped before reading: a regex drops them faster than str.translate.
_DIACRITICS = re.compile("[\u064b-\u0652\u0670\u0640]+")
_WHITE_BREAKS = ("\n", "\r", "\t")  # the white space _CLAUSE_BREAK counts as punctuation
_KEY = attrgetter("key")
_TERM = attrgetter("term")
_IS_SOMETHING = partial(is_not, None)
_BLOCK_END = re.compile(r"</(p|div|h[1-6]|li|blockquote|figcaption|tr)>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
# News's commonest chunks of text, read at start (see `warm_up`);
# `khabar_dev.common_words` makes it.
COMMON_WORDS = resources.files("khabar_enrich") / "data" / "common_words.txt"
# "دبي، الإمارات العربية المتحدة (CNN) --" and "لندن - رويترز": where the story was filed.
_DATELINE = re.compile(
    r"^(?:[^\n.]{0,60}?\([^)\n]{1,25}\)\s*[-–—]+"  # City, Country (Agency) --
    r"|(?:[^\s.،]+\s){0,2}[^\s.،]+\s[-–—]+\s)"  # City - , up to three words before the dash
)


class TagResult(BaseModel):
    """What the tagger found: every tag, and the topic and phrase slugs on their own."""

    tags: list[Tag] = Field(default_factory=list)
    topic: str = Field(description="Main topic slug; empty when the text gives no evidence.")
    topics: list[str] = Field(
        default_factory=list, description="Main topic first, then up to 3 more."
    )
    keyphrases: list[str] = Field(default_factory=list)
    terms: list[str] = Field(
        default_factory=list, description="Analyzed terms of the whole article."
    )


@dataclass
class _Part:
    """One part of the article, its words in a flat list with `CLAUSE_END` between clauses."""

    name: str
    tokens: list[Token]  # ends with CLAUSE_END
    terms: list[str]

    @property
    def segments(self) -> list[list[Token]]:
        """The clauses, each a list of tokens."""
        segments: list[list[Token]] = [[]]
        for token in self.tokens:
            if token is CLAUSE_END:
                segments.append([])
            else:
                segments[-1].append(token)
        return [segment for segment in segments if segment]


def html_to_text(fragment: str) -> str:
    """Plain text of body HTML: block ends become line breaks, tags go, entities decode."""
    text = html.unescape(_TAG.sub(" ", _BLOCK_END.sub("\n", fragment)))
    # Each line's words joined by single spaces, blank lines dropped: in C, no Python loop.
    return "\n".join(filter(None, map(" ".join, map(str.split, text.splitlines()))))


def strip_dateline(text: str) -> str:
    """The text without a leading "City (Agency) --" or "City - " dateline."""
    return _DATELINE.sub("", text, count=1).lstrip()


def read_part(name: str, text: str) -> _Part:
    """Cut text into clauses of tokens, each with display form, normal form and keys."""
    # Text is read by its white-space-separated chunks ("الحكومة،", "(CNN)"), each looked up in
    # a cache: news repeats them, so a text costs a split and C-level lookups, no regex. The
    # line breaks and tabs, which end clauses, become a "|" chunk of their own first.
    for white in _WHITE_BREAKS:
        if white in text:
            text = text.replace(white, " | ")
    tokens = list(chain.from_iterable(map(_CHUNKS.__getitem__, text.split())))
    tokens.append(CLAUSE_END)
    return _Part(name, tokens, list(filter(_IS_SOMETHING, map(_TERM, tokens))))


class _ChunkCache(dict[str, tuple[Token, ...]]):
    """Chunk -> its tokens, worked out on first sight.

    A plain dict, not an lru_cache: a hit is a C-level lookup that touches no LRU list, and
    most chunks are hits. Emptied when full, which news vocabulary makes rare.
    """

    max_size = 400_000

    def __missing__(self, chunk: str) -> tuple[Token, ...]:
        if len(self) >= self.max_size:
            self.clear()
        tokens = self[chunk] = _chunk_tokens(chunk)
        return tokens

    def learn(self, chunks: Iterable[str]) -> None:
        """Work out the tokens of `chunks` now, those not known yet."""
        for chunk in chunks:
            if chunk not in self:
                self.__missing__(chunk)


_CHUNKS = _ChunkCache()


def _chunk_tokens(chunk: str) -> tuple[Token, ...]:
    """The tokens of a chunk of text between white space, CLAUSE_END for each clause break.

    Breaks can come out doubled, or at the start or end of a text, where the clause-by-clause
    reading had none: nothing counts them, a run or a name ends at a break either way.
    """
    chunk = _DIACRITICS.sub("", chunk)
    if chunk == "-":
        return (CLAUSE_END,)  # " - ", a dash between words, ends a clause (_CLAUSE_BREAK)
    return tuple(
        CLAUSE_END if _CLAUSE_BREAK.match(piece) else word_token(piece)
        for piece in _PIECE.findall(chunk)
    )


@lru_cache(maxsize=400_000)
def word_token(raw: str) -> Token:
    """A word as written, read once: news vocabulary repeats, so most words are a lookup."""
    arabic_normal = normalize_arabic(raw)
    norm = arabic_normal.lower()
    index_term = term(norm)
    # One shared string object per distinct norm, key and term: equal keys then compare by
    # identity in the per-article dicts and sets, and fewer objects are read per word.
    return make_token(
        raw,
        raw if norm == raw else sys.intern(norm),
        sys.intern(token_key(arabic_normal)),
        None if index_term is None else sys.intern(index_term),
    )


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


def _entity_weights(
    parts: list[_Part], gaz: Gazetteer
) -> tuple[Counter[str], set[tuple[str, ...]]]:
    """Weighted mentions per entity, and the key phrases of the names found."""
    found: list[tuple[Mention, float]] = []
    phrases: set[tuple[str, ...]] = set()
    for part in parts:
        keys = list(map(_KEY, part.tokens))  # CLAUSE_END's key starts no name: none spans clauses
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
            weights[mention.entity_id] += weight  # type: ignore[assignment]  # counts are floats
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
    """Load the gazetteer, lexicons and word lists, and read news's commonest words, now, at
    start, not during the first events.

    A new process's first articles are mostly words it has not seen: each costs its
    normalization, stemming and keys once (see `read_part`). Reading the commonest 30,000 chunks
    of text first (six in seven of the words of news) moves that cost to the start.
    """
    gazetteer()
    tag_article(
        Article(
            id="warm-up",
            uri="warm-up",
            language="ar",
            headline="والحكومة اللبنانية",
            body_html="<p>قال الرئيس دونالد ترامب إن الاتحاد الأوروبي</p>",
            versioncreated=datetime(2018, 1, 1, tzinfo=UTC),
        )
    )
    _CHUNKS.learn(COMMON_WORDS.read_text(encoding="utf-8").split())


def category_prior(category: str) -> str:
    """The newsroom's category as the topic scorer knows it: itself when the scorer has a
    prior for it, else the section the site's definition files it under."""
    if not category or category in CATEGORY_TOPIC:
        return category
    return sections().top_of(category)


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
    body_terms = list(chain.from_iterable(part.terms for part in parts[1:]))
    ranked = score_topics(
        term_counts(headline.terms, body_terms),
        region_weights(weights, gaz),
        category_prior(article.category) if use_category else "",
    )
    # A part's flat token list is one segment to extract_keyphrases: CLAUSE_END ends runs.
    phrases = extract_keyphrases(
        [headline.tokens], [part.tokens for part in parts[1:]], entity_phrases
    )
    tags = entity_tags(weights, gaz, lang)
    tags += [
        Tag(
            id=f"topic:{slug}",
            type="topic",
            name=TOPIC_NAMES[slug].get(lang, TOPIC_NAMES[slug]["en"]),
            names=TOPIC_NAMES[slug],
            score=score,
        )
        for slug, score in ranked
    ]
    tags += [
        Tag(id="keyphrase:" + "-".join(phrase.split()), type="keyphrase", name=phrase, score=score)
        for phrase, score in phrases
    ]
    return TagResult(
        tags=tags,
        topic=ranked[0][0] if ranked else "",
        topics=[slug for slug, _ in ranked],
        keyphrases=[phrase for phrase, _ in phrases],
        terms=headline.terms + body_terms,
    )
