"""Topics: which of the site's sections an article belongs to, from its own words.

Three kinds of evidence:

- **Word lexicons** learnt from the ANT 2018 corpus (`data/topic_lexicon.json`):
  for sport, technology, economy, culture, middle-east and world news, the
  terms that are much more frequent in that newsroom category than elsewhere,
  with their log-odds. `khabar_dev.topic_lexicon` rebuilds the file; it trains on
  six sevenths of the corpus and leaves every seventh for measuring agreement.
- **Seed lexicons** for the sections the corpus has no category for (health,
  business), written by hand in `data/topic_seeds.json`.
- **Entities**: the regions of the places, people and bodies the article is about.

World news has no section of its own: it goes to the region it is about, or to
politics when no region stands out. The newsroom's category is a prior that
tilts close calls, not the answer.

A topic needs evidence: at least `MIN_EVIDENCE_TERMS` different words of its
lexicon, an entity of its region, or the newsroom's category. A tiny article
(a headline and a sentence) whose one telling word happens to be in a lexicon
("اختبار", a test, is a technology word) gets no topic rather than a guess.
"""

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources

from khabar_shared.text import analyze

TOPICS = (
    "politics",
    "economy",
    "business",
    "sport",
    "technology",
    "health",
    "culture",
    "middle-east",
    "africa",
    "asia",
    "europe",
    "americas",
)
REGIONS = ("middle-east", "africa", "asia", "europe", "americas")
NEWS = ("middle-east", "world")  # lexicon classes that stand for news about a region

# Newsroom category (ANT corpus names and site slugs) -> topic it favours.
CATEGORY_TOPIC: dict[str, str] = {
    "sport": "sport",
    "sports": "sport",
    "technology": "technology",
    "tech": "technology",
    "science": "technology",
    "economy": "economy",
    "business": "business",
    "culture": "culture",
    "arts": "culture",
    "health": "health",
    "politics": "politics",
    "middleEast": "middle-east",
    "middle-east": "middle-east",
    "internationalNews": "world",
    "world": "world",
    "africa": "africa",
    "asia": "asia",
    "europe": "europe",
    "americas": "americas",
}

HEADLINE_WEIGHT = 2  # a headline term counts as two body terms
CATEGORY_PRIOR = 0.25  # share of the best score the newsroom's category adds to its topic
ENTITY_WEIGHT = 1.0  # lexicon points per unit of entity weight (tuned on held-out articles)
SEED_WEIGHT = 2.5  # log-odds given to every hand-written seed term
SECONDARY_SHARE = 0.35  # a further topic needs this share of the main topic's score
MAX_EXTRA = 3
NEWS_POLITICS_SCORE = 0.5  # news about a region is politics too, a step below
MIN_EVIDENCE_TERMS = 3  # different lexicon words a topic needs from the text alone


@dataclass(frozen=True)
class Lexicon:
    weights: dict[str, dict[str, float]]  # topic -> term -> weight

    @cached_property
    def by_term(self) -> dict[str, list[tuple[str, float]]]:
        """Term -> (topic, weight) for every topic that knows it: an article's terms are read
        once."""
        by_term: defaultdict[str, list[tuple[str, float]]] = defaultdict(list)
        for topic, table in self.weights.items():
            for term, weight in table.items():
                by_term[term].append((topic, weight))
        return dict(by_term)

    def evidence(self, terms: Iterable[str]) -> Counter[str]:
        """How many different words of each topic's lexicon the terms hold (weighing for it)."""
        found: Counter[str] = Counter()
        for term in filter(self.by_term.__contains__, terms):
            found.update(topic for topic, weight in self.by_term[term] if weight > 0)
        return found

    def scores(self, terms: Mapping[str, float]) -> dict[str, float]:
        # Each topic's sum runs in the terms' order, skipping only zeros: the same floats.
        scores: dict[str, float] = {topic: 0 for topic in self.weights}
        by_term = self.by_term
        # Most terms are in no lexicon: filter() skips them in C.
        for term in filter(by_term.__contains__, terms):
            damped = math.log1p(terms[term])
            for topic, weight in by_term[term]:
                scores[topic] += damped * weight
        return scores


def _data(name: str) -> dict:
    return json.loads(
        (resources.files("khabar_enrich") / "data" / name).read_text(encoding="utf-8")
    )


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """Corpus-learnt lexicons plus the stemmed seed lexicons, loaded once."""
    weights = {
        topic: dict(table) for topic, table in _data("topic_lexicon.json")["weights"].items()
    }
    for topic, words in _data("topic_seeds.json")["seeds"].items():
        table = weights.setdefault(topic, {})
        for word in words:
            for term in analyze(word):
                table[term] = max(table.get(term, 0.0), SEED_WEIGHT)
    return Lexicon(weights)


def term_counts(headline_terms: Iterable[str], body_terms: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter(body_terms)
    for term in headline_terms:
        counts[term] += HEADLINE_WEIGHT
    return counts


def score_topics(
    terms: Mapping[str, float],
    region_weights: Mapping[str, float] | None = None,
    category: str = "",
) -> list[tuple[str, float]]:
    """Ranked (topic, score in 0..1) pairs: the main topic first, then up to three more.

    `terms`: analyzed term counts (headline weighted); `region_weights`: region ->
    summed entity weights; `category`: the newsroom's section slug, a prior.
    The words decide between subjects and news; for news, the words and the
    entities together decide which region. Without evidence (see
    MIN_EVIDENCE_TERMS), no topic: an empty list.
    """
    raw = lexicon().scores(terms)
    evidence = lexicon().evidence(terms)
    raw = {t: v if evidence[t] >= MIN_EVIDENCE_TERMS else 0.0 for t, v in raw.items()}
    top = max(max(raw.values(), default=0.0), 1.0)
    prior = CATEGORY_TOPIC.get(category)
    if prior is not None:
        # Regions other than the Middle East, and politics, are what the "world" lexicon stands for.
        world_like = (prior in REGIONS and prior != "middle-east") or prior == "politics"
        target = "world" if world_like else prior
        raw[target] = raw.get(target, 0.0) + CATEGORY_PRIOR * top
    regions = {r: ENTITY_WEIGHT * w for r, w in (region_weights or {}).items() if r in REGIONS}
    news = {
        "middle-east": raw.get("middle-east", 0.0) + regions.get("middle-east", 0.0),
        "world": raw.get("world", 0.0) + sum(w for r, w in regions.items() if r != "middle-east"),
    }
    subjects = {t: v for t, v in raw.items() if t not in NEWS}
    best_subject = max(subjects, key=subjects.__getitem__, default="politics")
    news_value = max(raw.get("middle-east", 0.0), raw.get("world", 0.0))
    if subjects.get(best_subject, 0.0) <= 0 and news_value <= 0 and not regions:
        return []
    scores: dict[str, float] = dict(subjects)
    if news_value >= subjects.get(best_subject, 0.0):
        main = (
            "middle-east" if news["middle-east"] >= news["world"] else _world_topic(regions, prior)
        )
        scores[main] = news_value
        scores["politics"] = max(scores.get("politics", 0.0), NEWS_POLITICS_SCORE * news_value)
    else:
        main = best_subject
    for region, value in regions.items():
        scores[region] = max(scores.get(region, 0.0), value)
    return _rank(scores, main)


def _world_topic(regions: Mapping[str, float], prior: str | None) -> str:
    """The section of a world-news article: its leading region outside the Middle East."""
    if prior in REGIONS and prior != "middle-east":
        return prior
    others = {r: w for r, w in regions.items() if r != "middle-east" and w > 0}
    return max(others, key=others.__getitem__) if others else "politics"


def _rank(scores: dict[str, float], main: str) -> list[tuple[str, float]]:
    top = scores[main] or 1.0
    others = sorted(
        (
            (t, round(min(s / top, 1.0), 3))
            for t, s in scores.items()
            if t != main and s >= SECONDARY_SHARE * top
        ),
        key=lambda item: -item[1],
    )
    return [(main, 1.0), *others[:MAX_EXTRA]]
