"""How good related stories are, measured against labels: pure functions.

`related` everywhere maps an article id to its final ranked related ids (after
every refresh), as render would show them.
"""

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel

TOP = 4  # render's inline "see also"


class PairRecall(BaseModel):
    pairs: int
    both: float  # each member in the other's top TOP
    either: float  # at least one direction
    same_story: float  # both members given one story id


class LabelPrecision(BaseModel):
    articles: int
    links: int
    precision: float  # share of top-TOP links with the same label
    with_links: float  # share of articles with at least one link


def pair_recall(pairs: Iterable[tuple[str, str]], related: Mapping[str, Sequence[str]],
                stories: Mapping[str, str], top: int = TOP) -> PairRecall:
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
    share = (lambda n: round(n / total, 4) if total else 0.0)
    return PairRecall(pairs=total, both=share(both), either=share(either), same_story=share(grouped))


def label_precision(related: Mapping[str, Sequence[str]], labels: Mapping[str, object],
                    top: int = TOP) -> LabelPrecision:
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
