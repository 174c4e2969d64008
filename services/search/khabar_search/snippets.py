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
being allowed between every two letters, which bloated the expression and
slowed its compiling.

A body is the newsroom's, and any reader can ask for it: the work per hit is
bounded whatever it holds. A whitespace-free run longer than
`LONGEST_WORD_CHARS` is not a word (a planted `abcabc…` token, a pasted
URL): it is stepped over once, never analysed or memoised, so the memo holds
only short words. After each candidate the search goes on from the end of
its word, and at most `MAX_CANDIDATES` candidates of one text are looked at
(far more than one snippet's cluster needs), so the Python work per hit has
a ceiling: the regular expressions, in C, pass over the text about once.
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
# the no-break space of `&nbsp;` too. A longer whitespace-free run is not a word for snippets.
LONGEST_WORD_CHARS = 64
_WORD_END = re.compile(rf"\S{{0,{LONGEST_WORD_CHARS}}}")
_WORD_TAIL = re.compile(r"\S*\Z")
_NEXT_SPACE = re.compile(r"\s")
# Candidates (words holding a query term) looked at per text; a snippet shows one cluster.
MAX_CANDIDATES = 100
# Only this much of a text is searched for the passage (a long body's first pages).
MAX_TEXT_CHARS = 100_000
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
                    t for other in others for t in analyze(other)
                )
        self._longest = max((len(key) for key in self._by_name), default=0)

    def expand(self, terms: list[str]) -> set[str]:
        found = set(terms)
        for size in range(1, self._longest + 1):
            for start in range(len(terms) - size + 1):
                found |= self._by_name.get(tuple(terms[start : start + size]), set())
        return found


class Highlighter:
    """Snippets for one reader's query."""

    def __init__(
        self, q: str, synonyms: SynonymTerms | None = None, also: Iterable[str] = ()
    ) -> None:
        """`also`: other spellings of the query that found hits (the transliteration guesses)."""
        terms = analyze(q)
        wanted = set(synonyms.expand(terms) if synonyms else terms)
        for spelling in also:
            wanted.update(analyze(spelling))
        self.wanted = frozenset(wanted)
        self._candidates = _candidates_pattern(self.wanted)

    def snippet(self, body: str, lead: str) -> str:
        """The best passage of the body; else the lead's, else the lead's first words."""
        if passage := self.passage(body) or self.passage(lead):
            return passage
        words = lead.split()
        return _joined(
            html.escape(" ".join(words[:SNIPPET_WORDS]), quote=False),
            more_before=False,
            more_after=len(words) > SNIPPET_WORDS,
        )

    def passage(self, text: str) -> str | None:
        """About `SNIPPET_WORDS` words of `text` around most matches, marked; None without any."""
        if self._candidates is None:
            return None
        plain = _LEFT_OUT.sub("", text[:MAX_TEXT_CHARS])
        starts, matched = self._matches(plain)
        if not starts:
            return None
        return _marked_window(
            plain, _densest(starts), matched, cut_short=len(text) > MAX_TEXT_CHARS
        )

    def matches(self, word: str) -> bool:
        return any(t in self.wanted for t in word_terms(word))

    def _matches(self, plain: str) -> tuple[list[int], set[str]]:
        """Where the words of `plain` that match start, and those words.

        Each candidate word is looked at once (the search resumes after it),
        at most `MAX_CANDIDATES` of them, and none longer than `LONGEST_WORD_CHARS`.
        """
        assert self._candidates is not None
        starts: list[int] = []
        words: set[str] = set()
        position = 0
        for _ in range(MAX_CANDIDATES):
            found = self._candidates.search(plain, position)
            if found is None:
                break
            start, end = _word_around(plain, found.start())
            if start < 0:  # not a word: step over the whole run
                space = _NEXT_SPACE.search(plain, end)
                position = space.end() if space else len(plain)
                continue
            position = max(end, found.end())
            if self.matches(word := plain[start:end]):
                starts.append(start)
                words.add(word)
        return starts, words


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
    """The whitespace-separated word of `text` that holds `position`.

    A start of -1 says the run is longer than `LONGEST_WORD_CHARS`; only that
    many characters either side of `position` are looked at to say so.
    """
    low = max(0, position - LONGEST_WORD_CHARS)
    start = _WORD_TAIL.search(text, low, position).start()  # type: ignore[union-attr]
    end = _WORD_END.match(text, position).end()  # type: ignore[union-attr]
    too_long = (
        end - start > LONGEST_WORD_CHARS
        or (start == low > 0 and not text[low - 1].isspace())
        or (end < len(text) and not text[end].isspace())
    )
    return (-1 if too_long else start), end


def _densest(starts: list[int]) -> int:
    """The first match of the cluster with the most matches within `WINDOW_CHARS`."""
    best, best_count, last = starts[0], 0, 0
    for first, position in enumerate(starts):
        while last < len(starts) and starts[last] < position + WINDOW_CHARS:
            last += 1
        if last - first > best_count:
            best, best_count = position, last - first
    return best


def _marked_window(text: str, first_match: int, matched: set[str], cut_short: bool) -> str:
    """The words from a little before `first_match`, those in `matched` marked, escaped once."""
    before = text[max(0, first_match - LOOK_BACK_CHARS) : first_match].split()
    lead_in = before[-LEAD_IN_WORDS:]
    after = text[first_match : first_match + LOOK_AHEAD_CHARS].split()
    window = after[: SNIPPET_WORDS - len(lead_in)]
    words = lead_in + [_mark(word) if word in matched else word for word in window]
    escaped = html.escape(" ".join(words), quote=False)
    return _joined(
        escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"),
        more_before=len(before) > len(lead_in) or first_match > LOOK_BACK_CHARS,
        more_after=(
            len(after) > len(window) or cut_short or first_match + LOOK_AHEAD_CHARS < len(text)
        ),
    )


def _mark(word: str) -> str:
    before, core, after = _EDGES.match(word).groups()  # type: ignore[union-attr]
    return f"{before}{MARK_START}{core}{MARK_END}{after}"


def _joined(passage: str, more_before: bool, more_after: bool) -> str:
    return f"{ELLIPSIS + ' ' if more_before else ''}{passage}{' ' + ELLIPSIS if more_after else ''}"
