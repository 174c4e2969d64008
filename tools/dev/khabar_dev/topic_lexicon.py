"""Builds enrich's topic lexicon (`khabar_enrich/data/topic_lexicon.json`) from the ANT corpus:

    .venv/bin/python -m khabar_dev.topic_lexicon ../shared/corpus/ant-arabic-news-2018h1.jsonl.gz

It trains on the corpus's training part (see `khabar_dev.ant`).
"""

import json
import math
import sys
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from khabar_dev.ant import HELD_OUT_EVERY, corpus_articles
from khabar_enrich.topics import term_counts
from khabar_shared.text import analyze

CORPUS_CLASSES = {
    "sport": "sport",
    "technology": "technology",
    "economy": "economy",
    "culture": "culture",
    "middleEast": "middle-east",
    "internationalNews": "world",
}


def build_lexicon(
    articles: Iterable[tuple[list[str], str, str]],
    top: int = 800,
    min_df: int = 8,
    alpha: float = 0.5,
) -> dict[str, dict[str, float]]:
    """Log-odds lexicons from (corpus categories, title, text) triples.

    For each class, every term's smoothed log ratio of its (log-damped) frequency
    in the class to its frequency outside; the `top` positive terms, ranked by
    ratio times log frequency, are kept.
    """
    per_class: dict[str, Counter[str]] = {c: Counter() for c in CORPUS_CLASSES.values()}
    df: Counter[str] = Counter()
    for categories, title, text in articles:
        counts = term_counts(analyze(title), analyze(text))
        df.update(counts.keys())
        for category in categories:
            table = per_class[CORPUS_CLASSES[category]]
            for term, n in counts.items():
                table[term] += math.log1p(n)  # type: ignore[assignment]  # counts are floats
    vocab = [t for t, n in df.items() if n >= min_df]
    totals = {c: sum(table[t] for t in vocab) for c, table in per_class.items()}
    everywhere = sum(totals.values())
    smooth = alpha * len(vocab)
    weights = {}
    for cls, table in per_class.items():
        rest = everywhere - totals[cls]
        ratios = {}
        for term in vocab:
            inside = (table[term] + alpha) / (totals[cls] + smooth)
            outside = (sum(per_class[c][term] for c in per_class if c != cls) + alpha) / (
                rest + smooth
            )
            ratio = math.log(inside / outside)
            if ratio > 0:
                ratios[term] = ratio
        ranked = sorted(ratios, key=lambda t: -ratios[t] * math.log1p(table[t]))[:top]
        weights[cls] = {t: round(ratios[t], 3) for t in ranked}
    return weights


def write_lexicon_file(corpus: Path) -> Path:
    """Rebuild `data/topic_lexicon.json` from the training part of the corpus."""
    triples = (
        (record["categories"], record["title"] or "", record["text"] or "")
        for _, record in corpus_articles(corpus, held_out=False)
    )
    target = Path(str(resources.files("khabar_enrich") / "data" / "topic_lexicon.json"))
    document = {
        "about": (
            "Log-odds term weights per newsroom category, learnt by topics.build_lexicon from the "
            "ANT corpus v2.1 (Chouigui, Ben Khiroun, Elayeb, AICCSA 2017), every article except "
            f"each {HELD_OUT_EVERY}th, which is kept for measuring agreement."
        ),
        "weights": build_lexicon(triples),
    }
    target.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return target


if __name__ == "__main__":
    write_lexicon_file(Path(sys.argv[1]))
