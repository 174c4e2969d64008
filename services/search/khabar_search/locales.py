"""Which language Meilisearch tokenizes each text as, when indexing and when querying.

Meilisearch (charabia) segments and normalizes text by language: Chinese by
dictionary words (jieba), Japanese and Korean by their dictionaries, Thai,
German compounds split into their parts, Arabic with its letter unification.
It picks the language of each field value among the locales the index
declares, and of a query among the `locales` the query sends. Both sides must
agree: a Chinese headline indexed as Chinese words is not found by a query
tokenized as English, and a German compound indexed in parts is not found by
the whole word tokenized as English.

So the index declares every language the site takes (`KHABAR_SEARCH_LANGUAGES`)
and each query sends the locales of its own script: a script that belongs to
one language names it; Latin script could be any of the Latin languages, so
the query sends all of them (or the one of its `lang` filter) and Meilisearch
chooses, as it did for the document.

Only one Arabic-script language is declared on purpose: with Persian or Urdu
beside Arabic, Meilisearch could take an Arabic text for one of them and skip
the Arabic normalization the archive depends on.
"""

import unicodedata
from collections import Counter
from collections.abc import Iterable

# ISO 639-1 (what ninjs `language` carries) → ISO 639-3 (what Meilisearch takes).
MEILI_LOCALE: dict[str, str] = {
    "ar": "ara",
    "en": "eng",
    "fr": "fra",
    "de": "deu",
    "es": "spa",
    "it": "ita",
    "pt": "por",
    "nl": "nld",
    "sv": "swe",
    "tr": "tur",
    "vi": "vie",
    "zh": "cmn",
    "ja": "jpn",
    "ko": "kor",
    "th": "tha",
    "he": "heb",
    "el": "ell",
    "ru": "rus",
    "uk": "ukr",
    "hi": "hin",
    "km": "khm",
}
# Scripts whose text is one language among those Meilisearch knows apart.
SCRIPT_LANGUAGE: dict[str, str] = {
    "ARABIC": "ar",
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "HANGUL": "ko",
    "CJK": "zh",
    "THAI": "th",
    "HEBREW": "he",
    "GREEK": "el",
    "DEVANAGARI": "hi",
    "KHMER": "km",
}
CYRILLIC_LANGUAGES = ("ru", "uk")
NON_LATIN = {*SCRIPT_LANGUAGE.values(), *CYRILLIC_LANGUAGES}
DEFAULT_LANGUAGES = ("ar", "en", "fr", "de", "es", "zh", "ja", "ko", "th", "he", "el", "ru")


def known_languages(languages: Iterable[str]) -> list[str]:
    """The languages Meilisearch can be told about, in the order given, each once."""
    return [code for code in dict.fromkeys(languages) if code in MEILI_LOCALE]


def index_locales(languages: Iterable[str]) -> list[str]:
    return [MEILI_LOCALE[code] for code in known_languages(languages)]


def _script(char: str) -> str | None:
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    if name.startswith("CJK") or "IDEOGRAPH" in name:
        return "CJK"
    return name.split(" ", 1)[0] or None


def dominant_script(text: str) -> str | None:
    """The script most of the text's letters are written in (kana wins over Han: Japanese)."""
    counts = Counter(script for script in map(_script, text[:500]) if script)
    if not counts:
        return None
    if counts["HIRAGANA"] or counts["KATAKANA"]:
        return "HIRAGANA"
    # A Latin brand inside an Arabic query (شركة Apple) keeps the query Arabic.
    if counts["ARABIC"] and counts["ARABIC"] >= counts["LATIN"]:
        return "ARABIC"
    return counts.most_common(1)[0][0]


def query_locales(q: str, languages: Iterable[str], lang: str | None = None) -> list[str]:
    """The locales a reader's query is tokenized with (see the module's docstring)."""
    declared = known_languages(languages)
    if lang and lang in declared:
        return [MEILI_LOCALE[lang]]
    script = dominant_script(q)
    if script in SCRIPT_LANGUAGE and SCRIPT_LANGUAGE[script] in declared:
        return [MEILI_LOCALE[SCRIPT_LANGUAGE[script]]]
    if script == "CYRILLIC":
        cyrillic = [code for code in declared if code in CYRILLIC_LANGUAGES]
        if cyrillic:
            return [MEILI_LOCALE[code] for code in cyrillic]
    latin = [MEILI_LOCALE[code] for code in declared if code not in NON_LATIN]
    return latin or index_locales(declared)
