"""Aliases learned from the archive: a Latin name and the Arabic spelling an article gives it.

Arabic news glosses a foreign name once in Latin script, in parentheses,
and writes it in Arabic from then on: "أعلنت شركة نايكي (Nike)…",
"عبر محرك البحث بنغ (Bing)". Bilingual writing puts both scripts side by
side without parentheses, either way round and with or without a dash or
quotes: "كامبريدج أناليتيكا Cambridge Analytica", "Animoji - أنيموجي",
"«Vero» فيرو". Each such pair lets a reader who types the Latin name find
every article that writes only the Arabic one (and back).

Parentheses hold other things too: datelines ("الإمارات العربية المتحدة
(CNN)"), acronyms of translated names ("مكتب التحقيقات الفيدرالي (FBI)"),
English words. A pair is kept only when the Arabic words sound like the
Latin ones (`translit.sounds_alike`): a spelling, not a translation.

Pure functions; the store is `alias_store.py`.
"""

import re
from collections.abc import Iterator

from pydantic import BaseModel

from khabar_search.translit import (
    latin_skeleton,
    raw_skeleton_distance,
    skeleton_distance,
    sounds_alike,
)
from khabar_shared.text import normalize, strip_clitics

# A Latin name of up to four words, as glosses write it (Nike, GettyImages, Apple Watch).
_LATIN_WORD = r"[A-Za-z\u00C0-\u024F][A-Za-z\u00C0-\u024F0-9&.'\-]*"
_LATIN = rf"{_LATIN_WORD}(?:[ ]{_LATIN_WORD}){{0,3}}"
_ARABIC_WORD = r"[\u0621-\u064A\u0640]+"
# What may stand between the two scripts of one name: spaces, a dash, quotes, parentheses.
_JOIN = r"[\s\-\u2013\u2014:«»\"“”'(]*"
_LATIN_NAME = re.compile(rf"(?<![A-Za-z0-9\u00C0-\u024F]){_LATIN}(?![A-Za-z0-9])")
# Up to three Arabic words just before the name, or just after it.
_ARABIC_BEFORE = re.compile(rf"((?:{_ARABIC_WORD}\s+){{0,2}}{_ARABIC_WORD})({_JOIN})$")
_ARABIC_AFTER = re.compile(rf"^({_JOIN})({_ARABIC_WORD}(?:\s+{_ARABIC_WORD}){{0,2}})")
# How far around a name its Arabic spelling may stand: three long words and the marks between.
_REACH = 64
# A leading letter that may be a clitic (و ف ب ل ك), and the Latin letters it spells
# when it belongs to the name instead: وبينتريست is و + Pinterest, واشنطن is Washington.
_CLITIC_SOUNDS = {"و": "wouv", "ف": "fv", "ب": "bp", "ل": "l", "ك": "kcq"}
# How Arabic writes the names of Latin letters, for acronyms read letter by letter (اف بي اي).
_LETTER_NAMES_TEXT = (
    "اي إي أي ايه بي سي دي إف اف جي إتش اتش إيه آي ي جاي جيه كي كيه إل ال إم ام إن ان "
    "أو او يو بي كيو آر ار إس اس تي في دبليو إكس اكس واي زد زي"
)
_LETTER_NAMES = {normalize(name) for name in _LETTER_NAMES_TEXT.split()}


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


def _forms(words: list[str], latin: str) -> list[str]:
    """`arabic_form`, and the same without one more leading clitic letter when the Latin
    name does not start with a sound that letter writes: the stemmer keeps the ل of
    لبزفييد and the و of وبينتريست, not knowing the names."""
    form = arabic_form(words)
    first = form[:1]
    if first in _CLITIC_SOUNDS and len(form) > 4 and latin[:1] not in _CLITIC_SOUNDS[first]:
        return [form[1:]]
    return [form]


def _all_letter_names(words: list[str]) -> bool:
    return all(normalize(word) in _LETTER_NAMES for word in words)


def _spelled_letter_by_letter(latin: str, words: list[str]) -> bool:
    """An acronym read out by letter names, one word a letter: CNN سي إن إن."""
    return len(words) == len(latin.replace(" ", "")) and _all_letter_names(words)


def _closeness(latin: str, span: str) -> tuple[int, int]:
    """Skeleton distance, then the distance before doubled sounds are merged (PayPal is
    closer to باي بال than to بال)."""
    return skeleton_distance(latin, span), raw_skeleton_distance(latin, span)


def best_span(latin: str, spans: list[list[str]], glossed: bool) -> str | None:
    """The span that spells `latin` most closely; None when none does.

    `spans` come nearest to the name first, and a longer one wins only when it
    is closer: "شركة نايكي (Nike)" gives نايكي, "غيتي إميدجز (GettyImages)" both
    words. A name glossed in parentheses may differ by one slip; one merely
    written beside Arabic words must spell them exactly, since a word beside a
    name is far more often just a word.
    """
    best: tuple[tuple[int, int], str] | None = None
    for words in spans:
        if _all_letter_names(words) and not _spelled_letter_by_letter(latin, words):
            continue  # جي تي beside EUGT: part of an acronym read out
        for span in _forms(words, latin):
            if not sounds_alike(latin, span):
                continue
            closeness = _closeness(latin, span)
            if not glossed and not _exact(latin, words, closeness):
                continue
            if best is None or closeness < best[0]:
                best = (closeness, span)
    return best[1] if best else None


def _exact(latin: str, words: list[str], closeness: tuple[int, int]) -> bool:
    """Beside a name without parentheses, only an exact spelling counts; for a name of two
    consonants (Siri, Visa) even before merging doubled sounds, and word for word, since
    so short a skeleton is easily met by chance (Google خلال, Feed في وضع)."""
    if closeness[0] != 0:
        return False
    if len(latin_skeleton(latin)) >= 3:
        return True
    return closeness[1] == 0 and len(words) == len(latin.split())


def _names_with_neighbours(text: str) -> Iterator[tuple[str, list[list[str]], bool]]:
    """Each Latin name in `text` with the runs of Arabic words touching it, nearest first,
    and whether one of the two stands in parentheses. Latin names are rare in Arabic text,
    so they are found first and only their surroundings are read."""
    for name in _LATIN_NAME.finditer(text):
        before = _ARABIC_BEFORE.search(text, max(0, name.start() - _REACH), name.start())
        if before:
            words = before.group(1).split()
            spans = [words[-size:] for size in range(1, len(words) + 1)]
            yield name.group(0), spans, "(" in before.group(2)
        after = _ARABIC_AFTER.match(text[name.end() : name.end() + _REACH])
        if after:
            words = after.group(2).split()
            spans = [words[:size] for size in range(1, len(words) + 1)]
            yield name.group(0), spans, "(" in after.group(1)


def _alias_for(raw_latin: str, spans: list[list[str]], glossed: bool) -> Alias | None:
    name = raw_latin.strip(" .-'&")
    if re.search(r"[0-9]", name) or not re.search(r"[A-Za-z]{2}", name):
        return None  # model numbers (XC90, S-400) are written the same in both scripts
    if name.isupper() and len(name) <= 3:
        spelled = [words for words in spans if _spelled_letter_by_letter(name, words)]
        return Alias(latin=latin_form(name), arabic=arabic_form(spelled[0])) if spelled else None
    arabic = best_span(latin_form(name), spans, glossed)
    return Alias(latin=latin_form(name), arabic=arabic) if arabic else None


def mine(text: str) -> list[Alias]:
    """Every Latin name in `text` written beside an Arabic spelling of it, each pair once."""
    found: dict[str, Alias] = {}
    for raw_latin, spans, glossed in _names_with_neighbours(text):
        alias = _alias_for(raw_latin, spans, glossed)
        if alias:
            found.setdefault(alias.key, alias)
    return list(found.values())


def synonyms(aliases: list[Alias]) -> dict[str, list[str]]:
    """Meilisearch synonyms both ways: the Latin name finds the Arabic spelling and back."""
    table: dict[str, list[str]] = {}
    for alias in aliases:
        table.setdefault(alias.latin, []).append(alias.arabic)
        table.setdefault(alias.arabic, []).append(alias.latin)
    return {word: sorted(set(spellings)) for word, spellings in table.items()}
