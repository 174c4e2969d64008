"""Snippets: the passage where the reader's words occur, every form of them marked, safely
escaped."""

import pytest

from khabar_search import snippets
from khabar_search.snippets import SNIPPET_WORDS, Highlighter, SynonymTerms


def filler(count: int, word: str = "كلام") -> str:
    return " ".join([word] * count)


def test_marks_clitic_and_plural_forms_of_the_query_word() -> None:
    text = "قالت المفوضية العليا للاجئين إن اللاجئون عادوا وإن لاجئ واحد بقي"
    passage = Highlighter("لاجئ").passage(text)
    assert passage is not None
    assert "<mark>للاجئين</mark>" in passage and "<mark>اللاجئون</mark>" in passage
    assert "<mark>لاجئ</mark>" in passage
    assert "<mark>المفوضية</mark>" not in passage


def test_matches_spelling_variants_and_words_with_tashkeel() -> None:
    passage = Highlighter("الحكومة الاثيوبية").passage("أعلنت الحُكومة الإثيوبية حالة الطوارئ")
    # The snippet shows the text without its tashkeel.
    assert passage == "أعلنت <mark>الحكومة</mark> <mark>الإثيوبية</mark> حالة الطوارئ"


def test_english_words_match_through_their_stems() -> None:
    passage = Highlighter("happy").passage("Happiness is not the same as being happy, said Happ.")
    assert (
        passage == "<mark>Happiness</mark> is not the same as being <mark>happy</mark>, said Happ."
    )


def test_text_is_escaped_and_punctuation_stays_outside_the_mark() -> None:
    passage = Highlighter("الحكومة").passage('<script>alert(1)</script> "الحكومة"، قالت')
    assert passage == '&lt;script&gt;alert(1)&lt;/script&gt; "<mark>الحكومة</mark>"، قالت'


def test_the_text_cannot_add_marks_of_its_own() -> None:
    passage = Highlighter("الحكومة").passage("قالت \x01الحكومة\x02 إن \x01الوزير\x02")
    assert passage == "قالت <mark>الحكومة</mark> إن الوزير"


def test_the_passage_is_the_densest_cluster_of_matches() -> None:
    text = " ".join(["فيفا", filler(100), "الفيفا وفيفا", filler(3), "لفيفا", filler(100)])
    passage = Highlighter("فيفا").passage(text)
    assert passage is not None
    assert passage.startswith("… ") and passage.endswith(" …")
    assert passage.count("<mark>") == 3
    assert len(passage.split()) == SNIPPET_WORDS + 2  # the words and two ellipses


def test_without_a_match_in_the_body_the_lead_is_used() -> None:
    highlighter = Highlighter("فيفا")
    assert highlighter.snippet(filler(50), "رئيس الفيفا يزور القاهرة") == (
        "رئيس <mark>الفيفا</mark> يزور القاهرة"
    )
    long_lead = filler(40, "خبر")
    assert highlighter.snippet(filler(50), long_lead) == filler(SNIPPET_WORDS, "خبر") + " …"


def test_an_empty_query_marks_nothing() -> None:
    assert Highlighter("").snippet("الفيفا", "الفيفا & الكاف") == "الفيفا &amp; الكاف"
    assert Highlighter("في من").wanted == frozenset()


def test_synonyms_mark_other_spellings_of_a_name() -> None:
    synonyms = SynonymTerms({"apple": ["آبل", "Apple Inc"], "united states": ["الولايات المتحدة"]})
    assert "<mark>آبل</mark>" in (Highlighter("Apple", synonyms).passage("أعلنت آبل أرباحها") or "")
    passage = Highlighter("United States", synonyms).passage("زار الولايات المتحدة أمس") or ""
    assert passage == "زار <mark>الولايات</mark> <mark>المتحدة</mark> أمس"
    assert Highlighter("Apple").passage("أعلنت آبل أرباحها") is None


def test_any_whitespace_ends_a_word_as_it_does_for_the_window() -> None:
    text = "قالت\xa0الحكومة\tأمس\r\nإن الحكومة،\xa0اليوم"
    assert Highlighter("الحكومة").passage(text) == (
        "قالت <mark>الحكومة</mark> أمس إن <mark>الحكومة</mark>، اليوم"
    )


ANALYSE = snippets.word_terms.__wrapped__


class CountingAnalysis:
    """Stands in for `word_terms`: counts the words, and their characters, handed to analysis."""

    def __init__(self) -> None:
        self.words = 0
        self.chars = 0
        self.longest = 0

    def __call__(self, word: str) -> tuple[str, ...]:
        self.words += 1
        self.chars += len(word)
        self.longest = max(self.longest, len(word))
        return ANALYSE(word)


def test_a_planted_whitespace_free_token_costs_no_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20,000 characters of `abcabc…`: every `abc` is a candidate inside one endless "word".
    counting = CountingAnalysis()
    monkeypatch.setattr(snippets, "word_terms", counting)
    body = "abc" * 6667 + " then an abc word"
    passage = Highlighter("abc").snippet(body, "lead")
    assert "<mark>abc</mark> word" in passage
    # The run is stepped over as one non-word: only the real words near the end are analysed,
    # none of them a slice of the run (each such slice was memoised, 270 MB in all).
    assert counting.longest <= snippets.LONGEST_WORD_CHARS
    assert counting.chars <= 1_000


def test_the_words_analysed_per_text_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = CountingAnalysis()
    monkeypatch.setattr(snippets, "word_terms", counting)
    body = " ".join(f"abc-{i}" for i in range(3_000))  # each word a new one: abc, then a number
    assert Highlighter("abc").passage(body) is not None
    # Enough candidates for the passage's cluster, not one per word of the body.
    assert counting.words <= 200
