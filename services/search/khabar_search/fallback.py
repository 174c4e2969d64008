"""The transliteration fallback: a Latin name the archive writes only in Arabic.

A reader types "Federer"; the archive writes فيدرر and never glossed it, so
neither the query nor the synonyms (gazetteer and learned aliases) reach it.
When the query as typed finds less than a page and holds Latin words, search tries the
likeliest Arabic spellings of those words (`translit.py`), each as a query of
its own in one more multi-search, and merges their hits below what the query
as typed found.

Only then: a query that finds enough as typed costs nothing more and its
hits are never pushed down by guesses. A guess's hits count a little less
than the typed query's; among guesses, Meilisearch's ranking score decides
(a spelling that matches exactly beats one matched with a typo).
"""

import itertools
import re
from typing import Any

from khabar_search.translit import arabic_spellings

SPELLINGS_PER_WORD = 4
MAX_GUESSES = 6
# A guess's hits rank below equally good hits of the typed query (weight 1.0).
GUESS_WEIGHT = 0.8
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F']+")
# The query must hold a Latin word this long: guessing "of" or "Ed" alone finds noise.
_NAME = re.compile(r"[A-Za-z\u00C0-\u024F]{4,}")
_WORD = re.compile(r"\S+")


def found_little(results: list[dict[str, Any]], page_size: int) -> bool:
    """Whether the query as typed found less than a page: its few hits may be typos' noise."""
    return max((r.get("estimatedTotalHits", 0) for r in results), default=0) < page_size


def guesses(q: str) -> list[str]:
    """The query with its Latin words spelled in Arabic, likeliest first; [] when none are Latin.

    Words in other scripts stay as typed. Several Latin words are combined
    spelling by spelling, the cheapest combinations first.
    """
    words = _WORD.findall(q)
    options = [
        arabic_spellings(word, SPELLINGS_PER_WORD) if _LATIN.fullmatch(word) else (word,)
        for word in words
    ]
    if not any(_NAME.search(word) for word in words) or not all(options):
        return []
    ranked = sorted(
        itertools.product(*(enumerate(choice) for choice in options)),
        key=lambda combination: sum(rank for rank, _ in combination),
    )
    return [
        " ".join(spelling for _, spelling in combination) for combination in ranked[:MAX_GUESSES]
    ]


def guess_weights(count: int) -> list[float]:
    return [GUESS_WEIGHT] * count


def guess_queries(typed_query: dict[str, Any], spellings: list[str]) -> list[dict[str, Any]]:
    """One query per spelling, as the typed query but for its words and its language."""
    return [{**typed_query, "q": spelling, "locales": ["ara"]} for spelling in spellings]
