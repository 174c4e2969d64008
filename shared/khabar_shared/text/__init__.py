"""Text analysis shared by enrich and search: one pipeline for Arabic and English.

    analyze("والحكومة البريطانية تستقبل اللاجئين")
    -> ['حكوم', 'بريطان', 'تستقبل', 'لاجي']

Steps: `tokenize` (normalize Arabic spelling, drop punctuation, casefold
Latin), then per token `strip_clitics` (Arabic only), stop word removal and
`stem`. Tokens are routed by their script, so the English words of an Arabic
article (brand names, quotes) are handled as English. Every per-token step is
memoized: news vocabulary repeats, so most tokens cost one dict lookup.
"""

import re
from functools import lru_cache

from khabar_shared.text import arabic, english
from khabar_shared.text.arabic import normalize_arabic, stem_arabic, strip_clitics

__all__ = [
    "WORD",
    "analyze",
    "arabic_tokens",
    "detect_language",
    "is_arabic",
    "is_stopword",
    "normalize",
    "normalize_arabic",
    "stem",
    "strip_clitics",
    "term",
    "tokenize",
]

# A word is a run of Arabic letters, or a run of other letters and digits: a
# change of script splits ("لCNN" -> "ل", "cnn"). Diacritics must be gone first.
WORD = re.compile(r"[\u0621-\u064A\u0660-\u0669\u0671-\u06D3\u06F0-\u06F9]+|[^\W_\u0600-\u06FF]+")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0671-\u06D3]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u024F]")
_ARABIC_WORD = re.compile(r"[\u0621-\u064A]+")


def normalize(text: str) -> str:
    """Arabic spelling unified, diacritics and punctuation gone, Latin lowercased."""
    return normalize_arabic(text).lower()


def tokenize(text: str, casefold: bool = True) -> list[str]:
    """Normalized word tokens of Arabic and Latin text, digits as ASCII.

    `casefold=False` keeps the case of Latin letters (for matching proper names).
    """
    return WORD.findall(normalize(text) if casefold else normalize_arabic(text))


def arabic_tokens(text: str) -> list[str]:
    """Only the Arabic-script tokens of `text`, normalized."""
    return _ARABIC_WORD.findall(normalize_arabic(text))


def is_arabic(token: str) -> bool:
    return "\u0621" <= token[0] <= "\u06d3"


def is_stopword(token: str, lang: str | None = None) -> bool:
    """Whether a normalized token is a stop word (of its script's language by default)."""
    if (lang or ("ar" if is_arabic(token) else "en")) == "ar":
        words = arabic.stopwords()
        return token in words or strip_clitics(token) in words
    return token in english.stopwords()


def stem(token: str, lang: str | None = None) -> str:
    """Stem of one normalized token; Arabic tokens are clitic-stripped first."""
    if (lang or ("ar" if is_arabic(token) else "en")) == "ar":
        return stem_arabic(strip_clitics(token))
    return english.stem_english(token)


@lru_cache(maxsize=400_000)
def term(token: str) -> str | None:
    """The index term of one normalized token, or None for stop words and noise."""
    if len(token) < 2:
        return None
    if is_arabic(token):
        stops = arabic.stopwords()
        if token in stops:
            return None
        bare = strip_clitics(token)
        if bare in stops or len(bare) < 2:
            return None
        return stem_arabic(bare)
    if token in english.stopwords():
        return None
    return english.stem_english(token)


def analyze(text: str, lang: str | None = None) -> list[str]:
    """The full pipeline: normalized, clitic-stripped, stemmed terms without stop words.

    `lang` is accepted for symmetry with `stem`; tokens are routed by script.
    """
    terms = []
    for token in tokenize(text):
        t = term(token)
        if t is not None:
            terms.append(t)
    return terms


def detect_language(text: str) -> str:
    """'ar' when Arabic letters outnumber Latin ones, else 'en'."""
    sample = text[:2000]
    arabic_count = len(_ARABIC_LETTER.findall(sample))
    latin_count = len(_LATIN_LETTER.findall(sample))
    return "ar" if arabic_count >= latin_count and arabic_count > 0 else "en"
