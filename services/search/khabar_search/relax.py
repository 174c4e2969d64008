"""Half-remembered queries: words from another paper's telling of the story.

A reader who read a story elsewhere types two or three words of that
telling. Often one of them is not in our telling at all ("زاهر" where our
paper wrote "مشرق"). Meilisearch's `frequency` strategy drops the most common
words first and keeps the rarest, so when the missing word is the rarest, the
story is never found, however well the other words fit.

So when the typed query's best hit is weak (a ranking score below
`WEAK_BELOW`: no document holds most of its words), search asks again, once,
with each word left out in turn, every remaining word required, and merges
those hits a little below equally good hits of the typed query. A query whose
best hit is good costs nothing more, and its hits are never pushed down.
"""

from typing import Any

# Below this ranking score the typed query's best hit misses words the reader gave.
WEAK_BELOW = 0.8
# A relaxed query's hits rank below equally good hits of the typed query (weight 1.0).
RELAXED_WEIGHT = 0.9
# Leaving one word out of two leaves one word: that is not the reader's query any more.
MIN_WORDS, MAX_WORDS = 3, 5


def is_weak(answer: list[dict[str, Any]], weights: list[float]) -> bool:
    """Whether the best hit of the query's words or stems is weak (Meilisearch's ranking
    score, as each query's weight counts it: a derivation is found by its stems)."""
    best = max(
        (
            result["hits"][0].get("_rankingScore", 0.0) * weight
            for result, weight in zip(answer, weights, strict=False)
            if result.get("hits")
        ),
        default=0.0,
    )
    return best < WEAK_BELOW


def leave_one_out(q: str) -> list[str]:
    """The query with each of its words left out in turn; [] when too short or too long."""
    words = q.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return []
    return [" ".join(words[:n] + words[n + 1 :]) for n in range(len(words))]


def relaxed_queries(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each query of the request (words, stems) with each word left out, all the rest required."""
    return [
        {**query, "q": shorter, "matchingStrategy": "all"}
        for query in queries
        for shorter in leave_one_out(query["q"])
    ]


def relaxed_weights(count: int) -> list[float]:
    return [RELAXED_WEIGHT] * count
