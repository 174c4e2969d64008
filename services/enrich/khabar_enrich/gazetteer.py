"""The gazetteer: people, places and organisations, and a matcher that finds them in text.

Entities live in `data/gazetteer.json`, reviewed like code. The matcher works on
token keys, not on raw strings: an Arabic token's key is its normalized form
with conjunctions and prepositions removed, and the article ال kept as a mark
(so "والاتحاد الأوروبي" and "للاتحاد الأوروبي" both read "الاتحاد الاوروبي",
while "الصدر" the cleric stays apart from "صدر", "was issued"). Latin tokens keep
their case, so "May" the prime minister is not "may" the verb.

Phrases are indexed by their first key; at each position the longest phrase
that matches wins ("ريال مدريد" before "مدريد"). No regex per entity.
"""

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from itertools import compress, count
from typing import Literal, NamedTuple

from pydantic import BaseModel

from khabar_shared.text import is_arabic, strip_clitics, tokenize

EntityType = Literal["person", "place", "organisation"]


class Entity(BaseModel):
    id: str
    type: EntityType
    ar: str
    en: str
    region: str | None = None
    attribution: bool = False  # a news outlet, mostly named as a source
    confirm: list[str] = []  # forms that count only beside a longer form of the same entity
    match: dict[str, list[str]]

    def name(self, lang: str) -> str:
        return self.ar if lang == "ar" else self.en


class Mention(NamedTuple):
    entity_id: str
    start: int  # token offsets in the matched text
    end: int
    needs_confirmation: bool = False  # matched by one of the entity's `confirm` forms


@lru_cache(maxsize=200_000)
def token_key(token: str) -> str:
    """Matching key of one token: clitics gone, the article kept as a leading ال."""
    if not is_arabic(token):
        return token
    bare = strip_clitics(token)
    prefix = token[: len(token) - len(bare)]
    if prefix.endswith(("ال", "لل")):
        return "ال" + bare
    return bare


def keys(text: str) -> list[str]:
    """Matching keys of every token of `text`."""
    return [token_key(t) for t in tokenize(text, casefold=False)]


class Gazetteer:
    def __init__(self, entities: Iterable[Entity]) -> None:
        self.entities: dict[str, Entity] = {e.id: e for e in entities}
        self._phrases: dict[tuple[str, ...], str] = {}
        self._unconfirmed = {
            tuple(keys(form)) for entity in self.entities.values() for form in entity.confirm
        }
        for entity in self.entities.values():
            for form in (*entity.match.get("ar", []), *entity.match.get("en", [])):
                phrase = tuple(keys(form))
                # First entity to claim a form keeps it: the data file orders specific first.
                if phrase and phrase not in self._phrases:
                    self._phrases[phrase] = entity.id
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for phrase, entity_id in self._phrases.items():
            self._by_first.setdefault(phrase[0], []).append((phrase, entity_id))
        for candidates in self._by_first.values():
            candidates.sort(key=lambda item: -len(item[0]))
        self._starts_name = frozenset(self._by_first).__contains__
        # The same phrases, by first key and then by length, longest first: at a position,
        # one dict lookup per length instead of one comparison per phrase.
        self._by_length: dict[str, list[tuple[int, dict[tuple[str, ...], Mention]]]] = {}
        for first, candidates in self._by_first.items():
            lengths: dict[int, dict[tuple[str, ...], Mention]] = {}
            for phrase, entity_id in candidates:
                # A mention template: a mention found gets its own start and end.
                template = Mention(entity_id, 0, len(phrase), phrase in self._unconfirmed)
                lengths.setdefault(len(phrase), {})[phrase] = template
            self._by_length[first] = sorted(lengths.items(), key=lambda item: -item[0])

    def find_keys(self, token_keys: list[str]) -> list[Mention]:
        """Longest-first, non-overlapping entity mentions in a key sequence."""
        mentions: list[Mention] = []
        free, n = 0, len(token_keys)  # a mention may start at `free` or later
        # Only the few positions whose key starts a name are visited; they are found in C.
        for i in compress(count(), map(self._starts_name, token_keys)):
            if i < free:
                continue  # inside the mention just found
            for length, phrases in self._by_length[token_keys[i]]:
                end = i + length
                found = phrases.get(tuple(token_keys[i:end])) if end <= n else None
                if found is not None:
                    mentions.append(Mention(found.entity_id, i, end, found.needs_confirmation))
                    free = end
                    break
        return mentions

    def find(self, text: str) -> list[Mention]:
        """Mentions in `text`; a `confirm` form counts only beside a longer form."""
        return confirmed(self.find_keys(keys(text)))

    def variants_by_id(self) -> dict[str, list[str]]:
        """Every surface form of every entity, e.g. for search-engine synonyms."""
        return {
            e.id: list(dict.fromkeys([*e.match.get("ar", []), *e.match.get("en", [])]))
            for e in self.entities.values()
        }

    def claimed_by_two(self) -> list[tuple[str, str, str]]:
        """Forms written under two entities (data mistakes): (form, kept id, lost id)."""
        clashes = []
        for entity in self.entities.values():
            for form in (*entity.match.get("ar", []), *entity.match.get("en", [])):
                owner = self._phrases.get(tuple(keys(form)))
                if owner is not None and owner != entity.id:
                    clashes.append((form, owner, entity.id))
        return clashes


def confirmed(mentions: list[Mention]) -> list[Mention]:
    """Drop bare-surname mentions of entities the text never names in full ("مودي" alone)."""
    named = {m.entity_id for m in mentions if not m.needs_confirmation}
    return [m for m in mentions if m.entity_id in named]


def load_entities() -> list[Entity]:
    path = resources.files("khabar_enrich") / "data" / "gazetteer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Entity.model_validate(item) for item in data["entries"]]


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The process-wide gazetteer, loaded on first use."""
    return Gazetteer(load_entities())


def variants_by_id() -> dict[str, list[str]]:
    return gazetteer().variants_by_id()
