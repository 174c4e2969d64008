"""English: casefolded tokens, Snowball (Porter 2) stems, stop words."""

from functools import lru_cache

import Stemmer

from khabar_shared.text.lexicon import load_stopwords

_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(load_stopwords("en"))


def stem_english(token: str) -> str:
    """Snowball stem of a casefolded token: "elections" -> "elect"."""
    return _STEMMER.stemWord(token)
