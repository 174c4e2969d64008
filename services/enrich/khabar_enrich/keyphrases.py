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
from collections.abc import Sequence
from functools import lru_cache
from itertools import groupby
from operator import attrgetter
from typing import NamedTuple

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
    """
    الاثنين الثلاثاء الاربعاء الخميس الجمعه السبت الاحد اثنين ثلاثاء اربعاء خميس جمعه سبت احد
    يناير فبراير مارس ابريل مايو يونيو يوليو اغسطس سبتمبر اكتوبر نوفمبر ديسمبر
    كانون شباط اذار نيسان ايار حزيران تموز اب ايلول تشرين الثاني الاول
    عام العام سنه السنه يوم اليوم الماضي ماضي المقبل مقبل الجاري جاري الحالي حالي امس ساعه
    شهر اسبوع وقت الوقت يوما ايام مزيد المزيد خلال بعد قبل اكثر اقل كبير كبيره جديد جديده اخري اخر مره اول
    """.split()
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


def make_token(display: str, norm: str, key: str, term: str | None = None) -> Token:
    return Token(display, norm, key, term, key.lower(), _breaks_run(norm))


class _Counts(NamedTuple):
    """Uses of every candidate phrase (first seen, first listed), and where it was first used."""

    total: Counter[tuple[str, ...]]
    body: Counter[tuple[str, ...]]
    first: dict[tuple[str, ...], int]  # where in `words`
    words: list[Token]  # the article's content words, headline first

    def first_use(self, phrase: tuple[str, ...]) -> list[Token]:
        start = self.first[phrase]
        return self.words[start : start + len(phrase)]


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


def _salience(token: Token) -> float:
    return _norm_salience(token.norm)


@lru_cache(maxsize=200_000)
def _norm_salience(norm: str) -> float:
    """How rare a word is in the corpus: log of inverse frequency (clitics ignored)."""
    if not is_arabic(norm):
        return ENGLISH_SALIENCE
    bare = strip_clitics(norm)
    count = frequency(bare) + frequency("ال" + bare)
    return math.log(CORPUS_TOKENS / (1 + count))


def _runs(segment: Sequence[Token]) -> list[list[Token]]:
    """The runs of content words of a clause (see `_breaks_run`)."""
    return [list(run) for breaks, run in groupby(segment, attrgetter("breaks")) if not breaks]


def _grams(segments: Sequence[Sequence[Token]]) -> tuple[list[tuple[str, ...]], list[int], list[Token]]:
    """Every 1..MAX_WORDS-word candidate of the clauses in reading order (run by run, shortest
    first: that order breaks ties between equal scores), where each starts in the content words
    laid end to end, and those words."""
    grams: list[tuple[str, ...]] = []
    starts: list[int] = []
    words: list[Token] = []
    for segment in segments:
        for run in _runs(segment):
            keys = [t.phrase_key for t in run]
            for n in range(1, min(MAX_WORDS, len(run)) + 1):
                grams += zip(*(keys[k:] for k in range(n)))
                starts += range(len(words), len(words) + len(run) - n + 1)
            words += run
    return grams, starts, words


def _count(headline: Sequence[Sequence[Token]], body: Sequence[Sequence[Token]]) -> _Counts:
    head_grams, head_starts, head_words = _grams(headline)
    body_grams, body_starts, body_words = _grams(body)
    total = Counter({phrase: HEADLINE_COUNT * n for phrase, n in Counter(head_grams).items()})
    total.update(body_grams)  # after the headline's: first seen, first listed
    words = head_words + body_words
    starts = head_starts + [len(head_words) + start for start in body_starts]
    # Reversed, each phrase's first use is the last written: the one that stays.
    first = dict(zip(reversed(head_grams + body_grams), reversed(starts)))
    return _Counts(total, Counter(body_grams), first, words)


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
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
    return any(words & set(name) and not _contains(phrase, name) or phrase == name for name in entity_phrases)


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
    counts = _count(headline, body)
    entity_phrases = entity_phrases or set()
    scored = []
    for phrase, count in counts.total.items():
        if count < 2 or not counts.body[phrase]:
            continue  # once only, or headline-only wording: not yet a phrase of the story
        if _names_part_of_entity(phrase, entity_phrases):
            continue
        words = counts.first_use(phrase)
        salience = sum(_salience(t) for t in words) / len(words)
        scored.append((math.log1p(count) * salience * LENGTH_BONUS[len(phrase)], phrase))
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
        (" ".join(display_form(t) for t in counts.first_use(phrase)), round(score / top, 3))
        for score, phrase, _ in chosen
    ]
