"""Synonyms for the index: the spelling and script variants of the gazetteer's names.

Readers write a name the way they know it: ترامب or ترمب, فيفا or FIFA, آبل or
Apple. Enrich's gazetteer lists every surface form it matches, but some of its
forms are stand-ins rather than spellings (واشنطن for the United States, أمير
قطر for Tamim): good for tagging, wrong as search synonyms. `synonym_groups`
keeps only the forms that spell the same name:

- the Arabic and English display names;
- English forms made of words of the English display name (Trump, Putin);
- Arabic forms within two letters of the display name or of its last word
  (ترمب ~ ترامب, نتانياهو ~ نتنياهو, بوتن ~ بوتين), at least four letters long.

Search never imports enrich: `khabar_dev.search_synonyms` (tools/dev) turns the gazetteer's
JSON data file into `data/synonyms.json` at build time, and a unit test fails
when the committed file and the gazetteer drift apart.
"""

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

from khabar_shared.text import normalize, tokenize

MIN_ARABIC_VARIANT = 4
MAX_EDITS = 2


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _spells_arabic(form: str, display: str) -> bool:
    form_n, display_n = normalize(form), normalize(display)
    if form_n == display_n:
        return True
    last = display_n.split()[-1] if display_n.split() else display_n
    if len(form_n.replace(" ", "")) < MIN_ARABIC_VARIANT:
        return False
    return edit_distance(form_n, display_n) <= MAX_EDITS or edit_distance(form_n, last) <= MAX_EDITS


def _spells_english(form: str, display: str) -> bool:
    words = set(tokenize(display))
    return bool(tokenize(form)) and set(tokenize(form)) <= words


def synonym_groups(entries: Iterable[dict[str, Any]]) -> list[list[str]]:
    """One group of interchangeable spellings per entity that has more than one."""
    groups = []
    for entry in entries:
        match = entry.get("match", {})
        forms = [entry["ar"], entry["en"]]
        forms += [f for f in match.get("ar", []) if _spells_arabic(f, entry["ar"])]
        forms += [f for f in match.get("en", []) if _spells_english(f, entry["en"])]
        group = list(dict.fromkeys(f.strip() for f in forms if f.strip()))
        if len(group) > 1:
            groups.append(group)
    return groups


def synonyms_map(groups: Iterable[list[str]]) -> dict[str, list[str]]:
    """Meilisearch synonyms are one-way: every member of a group maps to the others."""
    mapping: dict[str, list[str]] = {}
    for group in groups:
        for form in group:
            others = [other for other in group if other.lower() != form.lower()]
            known = mapping.setdefault(form.lower(), [])
            known.extend(o for o in others if o not in known)
    return {key: value for key, value in sorted(mapping.items()) if value}


@lru_cache(maxsize=1)
def load_synonyms() -> dict[str, list[str]]:
    """The synonyms generated at build time (`khabar_dev.search_synonyms`, tools/dev)."""
    path = resources.files("khabar_search") / "data" / "synonyms.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))["synonyms"])
