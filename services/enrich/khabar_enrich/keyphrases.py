"""Keyphrases: the few 1-3 word phrases that say what an article is about.

Candidates are n-grams inside runs of content words: a run ends at punctuation,
a stop word, a number or a calendar word, so a phrase never starts or ends on
a particle and never spans two clauses. A candidate scores by how often the
article uses it (headline uses count triple), times how rare its words are in
the 2018 news corpus (the text package's frequency lexicon), with a bonus for
two- and three-word phrases. Phrases that only name a tagged entity are left
to the entity tags; phrases inside a better phrase are dropped.
"""

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import compress, count
from operator import attrgetter, itemgetter, sub
from typing import Any, NamedTuple

from khabar_shared.text import is_arabic, is_stopword, strip_clitics, term
from khabar_shared.text.lexicon import frequency

MAX_PHRASES = 5
MAX_WORDS = 3
HEADLINE_COUNT = 3  # one headline use counts as three body uses
LENGTH_BONUS = {1: 0.8, 2: 1.6, 3: 1.8}
CORPUS_TOKENS = 5_233_111  # Arabic tokens the frequency lexicon was counted over
LONGER_SHARE = 0.5
ENGLISH_SALIENCE = 8.0  # no English lexicon: an English word counts as fairly rare

# Normalized, clitic-free calendar and filler words that make poor phrases.
GENERIC = frozenset(
    [
        "الاثنين",
        "الثلاثاء",
        "الاربعاء",
        "الخميس",
        "الجمعه",
        "السبت",
        "الاحد",
        "اثنين",
        "ثلاثاء",
        "اربعاء",
        "خميس",
        "جمعه",
        "سبت",
        "احد",
        "يناير",
        "فبراير",
        "مارس",
        "ابريل",
        "مايو",
        "يونيو",
        "يوليو",
        "اغسطس",
        "سبتمبر",
        "اكتوبر",
        "نوفمبر",
        "ديسمبر",
        "كانون",
        "شباط",
        "اذار",
        "نيسان",
        "ايار",
        "حزيران",
        "تموز",
        "اب",
        "ايلول",
        "تشرين",
        "الثاني",
        "الاول",
        "عام",
        "العام",
        "سنه",
        "السنه",
        "يوم",
        "اليوم",
        "الماضي",
        "ماضي",
        "المقبل",
        "مقبل",
        "الجاري",
        "جاري",
        "الحالي",
        "حالي",
        "امس",
        "ساعه",
        "شهر",
        "اسبوع",
        "وقت",
        "الوقت",
        "يوما",
        "ايام",
        "مزيد",
        "المزيد",
        "خلال",
        "بعد",
        "قبل",
        "اكثر",
        "اقل",
        "كبير",
        "كبيره",
        "جديد",
        "جديده",
        "اخري",
        "اخر",
        "مره",
        "اول",
    ]
)


class Token(NamedTuple):
    """One word of the article as shown (display) and as matched (key).

    A word's token is made once and shared (see `tagging.word_token`): what
    the per-word passes ask of it is worked out then (see `make_token`), not per use.
    """

    display: str
    norm: str  # normalized, casefolded
    key: str  # clitic-free matching key, article kept as ال
    term: str | None  # index term (topics, search); None for stop words and noise
    phrase_key: str  # what phrases are counted by: the key, casefolded
    breaks: bool  # ends a run of content words (see `_breaks_run`)
    run_key: str | None  # phrase_key of a content word, None where a run ends (n-grams skip it)


def make_token(display: str, norm: str, key: str, term: str | None = None) -> Token:
    phrase_key = key.lower()
    if phrase_key == key:
        phrase_key = key  # the same object: a word is read through fewer objects
    breaks = _breaks_run(norm)
    return Token(display, norm, key, term, phrase_key, breaks, None if breaks else phrase_key)


# Stands for punctuation between clauses in a flat token list: it ends a run, it has no
# term, and its empty key starts no gazetteer name, so nothing is matched across it.
CLAUSE_END = Token("", "", "", None, "", True, None)
_RUN_KEY = attrgetter("run_key")
_NORM = attrgetter("norm")
_FOLLOWS = (1).__eq__  # of a gap between two positions: the second is the next word


def display_form(token: Token) -> str:
    """The token as written, without a leading conjunction or preposition."""
    if not is_arabic(token.norm):
        return token.display
    bare = strip_clitics(token.norm)
    cut = len(token.norm) - len(bare)
    article = "ال" if token.key.startswith("ال") and not bare.startswith("ال") else ""
    return article + token.display[cut:]


def _breaks_run(norm: str) -> bool:
    if len(norm) < 2 or norm.isdigit() or is_stopword(norm):
        return True
    return is_arabic(norm) and (strip_clitics(norm) in GENERIC or norm in GENERIC)


class _SalienceCache(dict[str, float]):
    """norm -> `_norm_salience`: a plain dict, whose hits cost a C-level lookup and no LRU list."""

    max_size = 200_000

    def __missing__(self, norm: str) -> float:
        if len(self) >= self.max_size:
            self.clear()
        salience = self[norm] = _norm_salience(norm)
        return salience


@lru_cache(maxsize=200_000)
def _norm_salience(norm: str) -> float:
    """How rare a word is in the corpus: log of inverse frequency (clitics ignored)."""
    if not is_arabic(norm):
        return ENGLISH_SALIENCE
    bare = strip_clitics(norm)
    count = frequency(bare) + frequency("ال" + bare)
    return math.log(CORPUS_TOKENS / (1 + count))


_SALIENCE = _SalienceCache()


class _Part(NamedTuple):
    """The headline, or the rest, as one flat list of tokens."""

    tokens: list[Token]  # the clauses laid end to end, each followed by CLAUSE_END
    keys: list[str | None]  # each token's run_key: None where a run ends
    first: dict[str | None, int]  # where each key (each a candidate starts with) is first used

    def first_use(self, phrase: tuple[str, ...]) -> int:
        """Where `phrase`, known to be used, is used first."""
        start = self.first[phrase[0]]
        while tuple(self.keys[start : start + len(phrase)]) != phrase:
            start = self.keys.index(phrase[0], start + 1)
        return start

    def run_start(self, start: int) -> int:
        """Where the run that holds the token at `start` starts."""
        while start and self.keys[start - 1] is not None:
            start -= 1
        return start


def _read(segments: Sequence[Sequence[Token]]) -> tuple[list[Token], list[str | None]]:
    tokens: list[Token] = []
    for segment in segments:
        tokens += segment
        tokens.append(CLAUSE_END)
    return tokens, list(map(_RUN_KEY, tokens))


def _first_uses(keys: list[str | None], positions: Sequence[int]) -> dict[str | None, int]:
    """Where each key at `positions` (ascending) is first used."""
    # Reversed, each key's first use is the last written: the one that stays.
    return dict(zip(map(keys.__getitem__, reversed(positions)), reversed(positions)))


def _ngrams(keys: list[str | None], n: int) -> Counter[tuple[str | None, ...]]:
    """Uses of every n-gram of `keys` (those holding a None too), counted in C."""
    return Counter(zip(*(keys[k:] for k in range(n))))


def _candidates(
    headline: Sequence[Sequence[Token]], body: Sequence[Sequence[Token]]
) -> list[tuple[tuple[str, ...], int, list[Token]]]:
    """(phrase, count, tokens of its first use) of every candidate phrase of the article.

    A phrase is a candidate when the body uses it and it is used twice, a headline use
    counting HEADLINE_COUNT times. Listed in the order of the article's 1..MAX_WORDS-word
    phrases read run by run, shortest first, headline first (that order breaks ties
    between equal scores).
    """
    head_tokens, head_keys = _read(headline)
    head = _Part(head_tokens, head_keys, _first_uses(head_keys, range(len(head_keys))))
    # Keyed by a word for n = 1, by a tuple of words above.
    head_uses: list[Mapping[Any, int]] = [
        Counter(head.keys),
        *(_ngrams(head.keys, n) for n in range(2, MAX_WORDS + 1)),
    ]
    tokens, keys = _read(body)
    word_uses = Counter(keys)
    # A candidate's words are each used twice, or in the headline and the body, too: longer
    # phrases are counted at the positions of those words only (a few dozen), in C.
    repeated = {key for key, uses in word_uses.items() if uses > 1 or key in head_uses[0]}
    repeated.discard(None)  # where runs end
    body_uses: list[Mapping[Any, int]] = [{(key,): word_uses[key] for key in repeated}]
    # Where n repeated words in a row start, from where n - 1 do: those followed by one more.
    starts = list(compress(count(), map(repeated.__contains__, keys)))
    rest = _Part(tokens, keys, _first_uses(keys, starts))  # a candidate starts with a repeated word
    key_at = keys.__getitem__
    for n in range(2, MAX_WORDS + 1):
        starts = list(compress(starts, map(_FOLLOWS, map(sub, starts[1:], starts))))
        body_uses.append(Counter(zip(*(map(key_at, map((k).__add__, starts)) for k in range(n)))))
    found: list[tuple[tuple[int, int, int, int], tuple[str, ...], int, list[Token]]] = []
    for n, (head_n, body_n) in enumerate(zip(head_uses, body_uses), start=1):
        for phrase, uses in body_n.items():
            in_head = head_n.get(phrase[0] if n == 1 else phrase, 0)
            if uses < 2 and not in_head:
                continue  # once only: not yet a phrase of the story
            part = head if in_head else rest
            start = part.first_use(phrase)
            order = (0 if in_head else 1, part.run_start(start), n, start)
            total = HEADLINE_COUNT * in_head + uses
            found.append((order, phrase, total, part.tokens[start : start + n]))
    found.sort(key=itemgetter(0))
    return [(phrase, total, words) for _, phrase, total, words in found]


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    # Phrases are 1..MAX_WORDS words: the common cases need no window.
    if n == 1:
        return shorter[0] in longer
    if n >= len(longer):
        return longer == shorter
    return any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def _signature(phrase: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(term(key) or key for key in phrase)


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two multi-word phrases sharing two words are one phrase seen through different windows."""
    return len(set(a) & set(b)) >= 2


def _names_part_of_entity(phrase: tuple[str, ...], entity_phrases: set[tuple[str, ...]]) -> bool:
    """An entity's name, or a piece of one ("جونغ أون"), is left to the entity tags.

    A phrase that holds a whole name and more ("زعيم كوريا الشمالية") stays.
    """
    words = set(phrase)
    return any(
        words & set(name) and not _contains(phrase, name) or phrase == name
        for name in entity_phrases
    )


def extract_keyphrases(
    headline: Sequence[Sequence[Token]],
    body: Sequence[Sequence[Token]],
    entity_phrases: set[tuple[str, ...]] | None = None,
    limit: int = MAX_PHRASES,
) -> list[tuple[str, float]]:
    """Up to `limit` (phrase, score 0..1) pairs, best first.

    `headline` and `body` are segments (clauses) of tokens; `entity_phrases`
    holds the lowercased key tuples of entity names already tagged.
    """
    entity_phrases = entity_phrases or set()
    entity_words = {word for name in entity_phrases for word in name}
    first_use: dict[tuple[str, ...], list[Token]] = {}
    scored = []
    for phrase, uses, words in _candidates(headline, body):
        # Only a phrase that shares a word with a name can be (part of) one.
        if not entity_words.isdisjoint(phrase) and _names_part_of_entity(phrase, entity_phrases):
            continue
        first_use[phrase] = words
        # The mean salience of the words, the same floats summed in the same order.
        salience = sum(map(_SALIENCE.__getitem__, map(_NORM, words))) / len(words)
        scored.append((math.log1p(uses) * salience * LENGTH_BONUS[len(phrase)], phrase))
    scored.sort(key=lambda item: -item[0])
    chosen: list[tuple[float, tuple[str, ...], tuple[str, ...]]] = []
    for score, phrase in scored[: limit * 8]:
        # Compare stems, so "الرقم القياسي" and "أرقام قياسية" are one phrase.
        sig = _signature(phrase)
        if any(_contains(c, sig) or _overlap(c, sig) for _, _, c in chosen):
            continue  # already said by a longer phrase, or a shifted copy of one
        inside = [i for i, (_, _, c) in enumerate(chosen) if _contains(sig, c)]
        if inside:
            # A longer phrase replaces the words it contains when it is nearly as strong.
            if score < LONGER_SHARE * max(chosen[i][0] for i in inside):
                continue
            chosen = [item for i, item in enumerate(chosen) if i not in inside]
        chosen.append((score, phrase, sig))
        if len(chosen) == limit:
            break
    chosen.sort(key=lambda item: -item[0])
    if not chosen:
        return []
    top = chosen[0][0]
    return [
        (" ".join(display_form(t) for t in first_use[phrase]), round(score / top, 3))
        for score, phrase, _ in chosen
    ]
