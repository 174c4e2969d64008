"""Snippets: the passage of an article where the reader's words occur, marked, as safe HTML.

Meilisearch can crop and mark a field itself, but cropping ten bodies costs
it as much CPU as the search itself (`bench.search`). It also marks only the
words as typed. Here the words of the text go through the
analysis the index was built with (`khabar_shared.text.term`, memoized per
word), so a snippet marks every form of the reader's words (اللاجئين for
لاجئ, والحكومة for الحكومة) and the gazetteer's other spellings of a name they
typed (آبل for Apple).

Analysing every word of ten bodies in Python would cost more than it saves,
so a regular expression first finds where the query's terms occur inside
words (in C, over the whole text); only those words are analysed. The
expression is a plain alternation of letters and letter classes: tashkeel is
taken out of the text before the search (and out of the snippet) instead of
being allowed between every two letters, which made compiling the expression
cost several times more.
"""

import html
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from khabar_shared.text import analyze, is_arabic, term, tokenize
from khabar_shared.text.arabic import NORMALIZE_TABLE

SNIPPET_WORDS = 30
# Words shown before the first match, so that a passage does not start mid-thought.
LEAD_IN_WORDS = 5
# Matches this close together count as one cluster: about one snippet's width.
WINDOW_CHARS = 180
# Enough characters for LEAD_IN_WORDS and SNIPPET_WORDS words of news text.
LOOK_BACK_CHARS = 120
LOOK_AHEAD_CHARS = 480
ELLIPSIS = "…"
# Stand-ins for <mark> and </mark> until the passage is escaped.
MARK_START, MARK_END = "\x01", "\x02"
# Left out of the text before it is searched: tashkeel and tatweel, and the stand-ins.
_LEFT_OUT = re.compile(f"[\u064b-\u0652\u0670\u0640{MARK_START}{MARK_END}]")
# A word is what `str.split()` makes one (the window is cut that way): any whitespace ends it,
# the no-break space of `&nbsp;` too. Its start is looked for this far back at most.
_WORD_END = re.compile(r"\S*")
_WORD_TAIL = re.compile(r"\S*\Z")
LONGEST_WORD_CHARS = 64
# Punctuation glued to a word stays outside its <mark>.
_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


@lru_cache(maxsize=100_000)
def word_terms(word: str) -> tuple[str, ...]:
    """The index terms of one whitespace-separated word of an article (usually one)."""
    return tuple(t for token in tokenize(word) if (t := term(token)) is not None)


class SynonymTerms:
    """The terms of every spelling of a name, found from the terms of any one of them."""

    def __init__(self, synonyms: Mapping[str, Iterable[str]]) -> None:
        self._by_name: dict[tuple[str, ...], set[str]] = {}
        for name, others in synonyms.items():
            key = tuple(analyze(name))
            if key:
                self._by_name.setdefault(key, set()).update(
                    t for other in others for t in analyze(other))
        self._longest = max((len(key) for key in self._by_name), default=0)

    def expand(self, terms: list[str]) -> set[str]:
        found = set(terms)
        for size in range(1, self._longest + 1):
            for start in range(len(terms) - size + 1):
                found |= self._by_name.get(tuple(terms[start:start + size]), set())
        return found


class Highlighter:
    """Snippets for one reader's query."""

    def __init__(self, q: str, synonyms: SynonymTerms | None = None) -> None:
        terms = analyze(q)
        self.wanted = frozenset(synonyms.expand(terms) if synonyms else terms)
        self._candidates = _candidates_pattern(self.wanted)

    def snippet(self, body: str, lead: str) -> str:
        """The best passage of the body; else the lead's, else the lead's first words."""
        if passage := self.passage(body) or self.passage(lead):
            return passage
        words = lead.split()
        return _joined(html.escape(" ".join(words[:SNIPPET_WORDS]), quote=False),
                       more_before=False, more_after=len(words) > SNIPPET_WORDS)

    def passage(self, text: str) -> str | None:
        """About `SNIPPET_WORDS` words of `text` around most matches, marked; None without any."""
        if self._candidates is None:
            return None
        plain = _LEFT_OUT.sub("", text)
        starts, matched = self._matches(plain)
        if not starts:
            return None
        return _marked_window(plain, _densest(starts), matched)

    def matches(self, word: str) -> bool:
        return any(t in self.wanted for t in word_terms(word))

    def _matches(self, plain: str) -> tuple[list[int], set[str]]:
        """Where the words of `plain` that match start, and those words."""
        assert self._candidates is not None
        starts: dict[int, None] = {}
        words: set[str] = set()
        for found in self._candidates.finditer(plain):
            start, end = _word_around(plain, found.start())
            if start not in starts and self.matches(word := plain[start:end]):
                starts[start] = None
                words.add(word)
        return list(starts), words


def _letter_variants() -> dict[str, str]:
    """Every raw letter that normalizes to each normalized letter (أ إ آ ٱ → ا, ة → ه …)."""
    forms: dict[str, set[str]] = {}
    for raw, normalized in NORMALIZE_TABLE.items():
        if normalized and len(normalized) == 1 and not normalized.isspace():
            forms.setdefault(normalized, {normalized}).add(chr(raw))
    return {letter: "[" + "".join(sorted(group)) + "]" for letter, group in forms.items()}


_LETTER_VARIANTS = _letter_variants()


def _term_pattern(index_term: str) -> str:
    """Where `index_term` may occur in text without tashkeel: any spelling of its letters.

    An English stem may differ from its word in the last letter (happi for
    happy), so a Latin term looks for all but that letter; `matches` decides.
    Case is ignored for Latin terms only: a case-blind Arabic letter class
    costs much more to compile.
    """
    if is_arabic(index_term):
        return "".join(_LETTER_VARIANTS.get(c, re.escape(c)) for c in index_term)
    return f"(?i:{re.escape(index_term[:-1] if len(index_term) > 3 else index_term)})"


def _candidates_pattern(terms: frozenset[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    # Longest first: the alternation tries the most specific term first.
    alternatives = sorted({_term_pattern(t) for t in terms}, key=len, reverse=True)
    return re.compile("|".join(alternatives))


def _word_around(text: str, position: int) -> tuple[int, int]:
    """The whitespace-separated word of `text` that holds `position`."""
    tail = _WORD_TAIL.search(text, max(0, position - LONGEST_WORD_CHARS), position)
    return tail.start(), _WORD_END.match(text, position).end()  # type: ignore[union-attr]


def _densest(starts: list[int]) -> int:
    """The first match of the cluster with the most matches within `WINDOW_CHARS`."""
    best, best_count, last = starts[0], 0, 0
    for first, position in enumerate(starts):
        while last < len(starts) and starts[last] < position + WINDOW_CHARS:
            last += 1
        if last - first > best_count:
            best, best_count = position, last - first
    return best


def _marked_window(text: str, first_match: int, matched: set[str]) -> str:
    """The words from a little before `first_match`, those in `matched` marked, escaped once."""
    before = text[max(0, first_match - LOOK_BACK_CHARS):first_match].split()
    lead_in = before[-LEAD_IN_WORDS:]
    after = text[first_match:first_match + LOOK_AHEAD_CHARS].split()
    window = after[:SNIPPET_WORDS - len(lead_in)]
    words = lead_in + [_mark(word) if word in matched else word for word in window]
    escaped = html.escape(" ".join(words), quote=False)
    return _joined(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"),
                   more_before=len(before) > len(lead_in) or first_match > LOOK_BACK_CHARS,
                   more_after=len(after) > len(window) or first_match + LOOK_AHEAD_CHARS < len(text))


def _mark(word: str) -> str:
    before, core, after = _EDGES.match(word).groups()  # type: ignore[union-attr]
    return f"{before}{MARK_START}{core}{MARK_END}{after}"


def _joined(passage: str, more_before: bool, more_after: bool) -> str:
    return f"{ELLIPSIS + ' ' if more_before else ''}{passage}{' ' + ELLIPSIS if more_after else ''}"
