"""Aliases learned from the archive: a Latin name and the Arabic spelling an article gives it.

Arabic news glosses a foreign name once in Latin script, in parentheses,
and writes it in Arabic from then on: "أعلنت شركة نايكي (Nike)…",
"عبر محرك البحث بنغ (Bing)". Each such pair lets a reader who types the
Latin name find every article that writes only the Arabic one (and back).

Parentheses hold other things too: datelines ("الإمارات العربية المتحدة
(CNN)"), acronyms of translated names ("مكتب التحقيقات الفيدرالي (FBI)"),
English words. A pair is kept only when the Arabic words sound like the
Latin ones (`translit.sounds_alike`): a spelling, not a translation.

Pure functions; the store is `alias_store.py`.
"""

import re

from pydantic import BaseModel

from khabar_search.translit import skeleton_distance, sounds_alike
from khabar_shared.text import normalize, strip_clitics

# Up to three Arabic words, then a Latin gloss in parentheses.
_GLOSS = re.compile(
    r"((?:[\u0621-\u064A\u0640]+\s+){0,2}[\u0621-\u064A\u0640]+)\s*"
    r"\(\s*([A-Za-z\u00C0-\u024F][A-Za-z\u00C0-\u024F0-9&.'\- ]{1,40}?)\s*\)"
)
MAX_WORDS = 3
_CLITIC_LETTERS = ("و", "ف", "ب", "ل", "ك")


class Alias(BaseModel, frozen=True):
    latin: str
    arabic: str

    @property
    def key(self) -> str:
        return f"{self.latin}\t{self.arabic}"

    @classmethod
    def from_key(cls, key: str) -> "Alias":
        latin, _, arabic = key.partition("\t")
        return cls(latin=latin, arabic=arabic)


def latin_form(text: str) -> str:
    return " ".join(text.lower().split())


def arabic_form(words: list[str]) -> str:
    """The words as Meilisearch will match them: normalized, the first one's clitics off."""
    normalized = [normalize(word) for word in words]
    return " ".join([strip_clitics(normalized[0]), *normalized[1:]])


def _forms(words: list[str]) -> list[str]:
    """`arabic_form`, and the same without one more leading clitic letter: the stemmer
    keeps the ل of لبزفييد, not knowing the name, but the name's spelling drops it."""
    form = arabic_form(words)
    return [form, form[1:]] if form[:1] in _CLITIC_LETTERS and len(form) > 4 else [form]


def best_span(latin: str, words: list[str]) -> str | None:
    """The trailing run of `words` that spells `latin` most closely; None when none does.

    Nearer words are tried first, and a longer run wins only when it is closer:
    "شركة نايكي (Nike)" gives نايكي, "غيتي إميدجز (GettyImages)" both words.
    """
    best: tuple[int, str] | None = None
    for size in range(1, min(MAX_WORDS, len(words)) + 1):
        for span in _forms(words[-size:]):
            if not sounds_alike(latin, span):
                continue
            distance = skeleton_distance(latin, span)
            if best is None or distance < best[0]:
                best = (distance, span)
    return best[1] if best else None


def mine(text: str) -> list[Alias]:
    """Every Latin gloss in `text` whose Arabic words spell it, each pair once."""
    found: dict[str, Alias] = {}
    for match in _GLOSS.finditer(text):
        latin = latin_form(match.group(2))
        if not re.search(r"[a-z]{2}", latin):
            continue
        arabic = best_span(latin, match.group(1).split())
        if arabic:
            alias = Alias(latin=latin, arabic=arabic)
            found.setdefault(alias.key, alias)
    return list(found.values())


def synonyms(aliases: list[Alias]) -> dict[str, list[str]]:
    """Meilisearch synonyms both ways: the Latin name finds the Arabic spelling and back."""
    table: dict[str, list[str]] = {}
    for alias in aliases:
        table.setdefault(alias.latin, []).append(alias.arabic)
        table.setdefault(alias.arabic, []).append(alias.latin)
    return {word: sorted(set(spellings)) for word, spellings in table.items()}
