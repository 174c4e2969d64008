"""Latin names spelled in Arabic by rule, and the test of whether two spellings sound alike."""

import pytest

from khabar_search import fallback
from khabar_search.translit import arabic_skeleton, arabic_spellings, latin_skeleton, sounds_alike


@pytest.mark.parametrize(
    ("latin", "arabic"),
    [
        ("Adidas", "أديداس"),  # a first vowel rides on an alef with hamza
        ("Nike", "نايكي"),  # a vowel before consonant + final e is long
        ("Visa", "فيزا"),  # v → ف, an s between vowels sounds z
        ("Spotify", "سبوتيفاي"),
        ("Ferrari", "فيراري"),  # a doubled consonant is written once
        ("Djokovic", "جوكوفيتش"),  # the Slavic -ić
        ("L'Oreal", "لوريال"),  # the apostrophe is not a letter
        ("Mercedes", "مرسيدس"),  # c before e is s
    ],
)
def test_the_corpus_spelling_is_among_the_likeliest(latin: str, arabic: str) -> None:
    assert arabic in arabic_spellings(latin, 4)


def test_spellings_are_ranked_and_bounded() -> None:
    spellings = arabic_spellings("Weinstein", 3)
    assert len(spellings) == 3 and len(set(spellings)) == 3
    assert arabic_spellings("") == () and arabic_spellings("2018") == ()


@pytest.mark.parametrize(
    ("latin", "arabic", "alike"),
    [
        ("Federer", "فيدرر", True),
        ("COMDEX", "كومديكس", True),
        ("Bing", "بنغ", True),
        ("GettyImages", "غيتي إميدجز", True),  # دج spells one sound (j)
        ("Gucci", "غوتشي", True),  # تش spells one sound (ch)
        ("CNN", "الإمارات العربية المتحدة", False),  # a dateline after a country
        ("PKK", "العمال الكردستاني التركي", False),  # a translation, not a spelling
        ("Visa", "عبر العقوبات", False),
    ],
)
def test_sounds_alike_compares_consonant_skeletons(latin: str, arabic: str, alike: bool) -> None:
    assert sounds_alike(latin, arabic) is alike, (latin_skeleton(latin), arabic_skeleton(arabic))


def test_guesses_keep_other_words_and_need_a_latin_name() -> None:
    assert fallback.guesses("فيلم Avengers")[0].startswith("فيلم ")
    assert fallback.guesses("Ed Sheeran")[0] == "إد شيران"
    assert fallback.guesses("of") == []  # no Latin word of four letters: nothing to guess
    assert fallback.guesses("فيدرر") == []
    assert len(fallback.guesses("Black Panther")) == fallback.MAX_GUESSES


def test_the_fallback_runs_only_when_the_query_found_little() -> None:
    assert fallback.found_little([{"estimatedTotalHits": 0}, {"estimatedTotalHits": 9}], 10)
    assert not fallback.found_little([{"estimatedTotalHits": 0}, {"estimatedTotalHits": 10}], 10)
    assert all(weight < 1.0 for weight in fallback.guess_weights(3))
