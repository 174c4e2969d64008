"""How good enrich's output is, measured against labels: pure functions (and one corpus run).

`related` everywhere maps an article id to its final ranked related ids (after
every refresh), as render would show them. Topic agreement compares a main
topic with the newsroom categories of the ANT corpus.
"""

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from khabar_dev.ant import corpus_article, corpus_articles
from khabar_enrich.tagging import tag_article

TOP = 4  # render's inline "see also"


class PairRecall(BaseModel):
    pairs: int
    both: float  # each member in the other's top TOP
    either: float  # at least one direction
    same_story: float  # both members given one story id


class Drift(BaseModel):
    """Kept related lists against a full recompute over the final set of articles."""

    articles: int  # compared: in both
    shown_differ: int  # the first `top` links differ as a set (what the page shows inline)
    list_differs: int  # the whole list differs (ids in order)


class LabelPrecision(BaseModel):
    articles: int
    links: int
    precision: float  # share of top-TOP links with the same label
    with_links: float  # share of articles with at least one link


def pair_recall(
    pairs: Iterable[tuple[str, str]],
    related: Mapping[str, Sequence[str]],
    stories: Mapping[str, str],
    top: int = TOP,
) -> PairRecall:
    """For known same-story pairs: does each member find the other among its first `top` links?"""
    total = both = either = grouped = 0
    for a, b in pairs:
        if a not in related or b not in related:
            continue
        total += 1
        a_finds, b_finds = b in related[a][:top], a in related[b][:top]
        both += a_finds and b_finds
        either += a_finds or b_finds
        grouped += bool(stories.get(a)) and stories.get(a) == stories.get(b)
    share = lambda n: round(n / total, 4) if total else 0.0
    return PairRecall(
        pairs=total, both=share(both), either=share(either), same_story=share(grouped)
    )


def label_precision(
    related: Mapping[str, Sequence[str]], labels: Mapping[str, object], top: int = TOP
) -> LabelPrecision:
    """Share of the first `top` links of every labelled article that carry its label."""
    links = agreeing = with_links = articles = 0
    for article_id, label in labels.items():
        if article_id not in related:
            continue
        articles += 1
        shown = [r for r in related[article_id][:top] if r in labels]
        with_links += bool(shown)
        links += len(shown)
        agreeing += sum(labels[r] == label for r in shown)
    return LabelPrecision(
        articles=articles,
        links=links,
        precision=round(agreeing / links, 4) if links else 0.0,
        with_links=round(with_links / articles, 4) if articles else 0.0,
    )


def drift(
    kept: Mapping[str, Sequence[str]], now: Mapping[str, Sequence[str]], top: int = TOP
) -> Drift:
    """How many articles' `kept` lists (as render shows them after every refresh) differ from
    the list each would get `now`, enriched over the final set of articles."""
    both = [i for i in kept if i in now]
    return Drift(
        articles=len(both),
        shown_differ=sum(set(kept[i][:top]) != set(now[i][:top]) for i in both),
        list_differs=sum(list(kept[i]) != list(now[i]) for i in both),
    )


# Corpus category -> topics that count as agreeing with it.
AGREES_WITH: dict[str, frozenset[str]] = {
    "sport": frozenset({"sport"}),
    "technology": frozenset({"technology", "health"}),
    "economy": frozenset({"economy", "business"}),
    "culture": frozenset({"culture"}),
    "middleEast": frozenset({"middle-east"}),
    "internationalNews": frozenset({"politics", "africa", "asia", "europe", "americas"}),
}


def topic_agreement(pairs: Iterable[tuple[list[str], str]]) -> dict[str, Any]:
    """How often a main topic agrees with the corpus categories of its article.

    `pairs`: (corpus categories, predicted main topic). Returns the overall
    share, the number of articles and the share per corpus category;
    agreement is judged by `AGREES_WITH`.
    """
    total, agreed = 0, 0
    by_category: dict[str, list[int]] = {}
    for categories, topic in pairs:
        allowed = frozenset().union(*(AGREES_WITH[c] for c in categories))
        ok = topic in allowed
        total += 1
        agreed += ok
        for category in categories:
            by_category.setdefault(category, [0, 0])
            by_category[category][0] += ok
            by_category[category][1] += 1
    return {
        "agreement": agreed / total if total else 0.0,
        "articles": total,
        "by_category": {c: round(a / n, 3) for c, (a, n) in sorted(by_category.items())},
    }


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
