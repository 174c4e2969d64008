"""The shared text pipeline on real words and sentences of the ANT 2018 news corpus."""

import pytest

from khabar_shared.text import (
    analyze,
    detect_language,
    is_stopword,
    normalize,
    normalize_arabic,
    stem,
    strip_clitics,
    term,
    tokenize,
)


def stems(words: str) -> set[str]:
    return {stem(normalize(w)) for w in words.split()}


# --- normalization -------------------------------------------------------------------


def test_alef_forms_hamza_seats_ta_marbuta_and_alef_maqsura_are_unified() -> None:
    assert normalize_arabic("إدارة") == normalize_arabic("ادارة") == "اداره"
    assert normalize_arabic("أمريكا") == normalize_arabic("آمريكا") == "امريكا"
    assert normalize_arabic("ٱلله") == "الله"
    assert normalize_arabic("مصطفى") == "مصطفي"
    assert normalize_arabic("المسؤولون") == "المسوولون"
    assert normalize_arabic("اللاجئين") == "اللاجيين"


def test_diacritics_tatweel_and_arabic_digits_are_removed_or_converted() -> None:
    assert normalize_arabic("تُقدِّم") == "تقدم"
    assert normalize_arabic("بقدرٍ كبير") == "بقدر كبير"
    assert normalize_arabic("الرئيـــس") == "الرييس"
    assert normalize_arabic("عام ٢٠١٨ و۱۴") == "عام 2018 و14"


def test_arabic_and_latin_punctuation_become_spaces() -> None:
    text = "«القاعدة» ليست خيالا، أليس كذلك؟ نعم؛ (CNN)."
    cleaned = normalize_arabic(text)
    for mark in "«»،؟؛().":
        assert mark not in cleaned
    assert cleaned.split() == ["القاعده", "ليست", "خيالا", "اليس", "كذلك", "نعم", "CNN"]


# --- tokenizing ----------------------------------------------------------------------


def test_tokenize_splits_mixed_arabic_and_latin_text() -> None:
    sentence = "حصريا لـCNN.. ساندرز ينتقد رد فعل إسرائيل في 2018"
    assert tokenize(sentence) == [
        "حصريا",
        "ل",
        "cnn",
        "ساندرز",
        "ينتقد",
        "رد",
        "فعل",
        "اسراييل",
        "في",
        "2018",
    ]


def test_tokenize_can_keep_latin_case_for_names() -> None:
    assert tokenize("Theresa May may resign", casefold=False) == ["Theresa", "May", "may", "resign"]


# --- clitics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["الحكومة", "والحكومة", "بالحكومة", "للحكومة", "وللحكومة", "فبالحكومة"]
)
def test_government_in_every_clitic_form_meets_one_word(word: str) -> None:
    assert strip_clitics(normalize(word)) == "حكومه"


@pytest.mark.parametrize("word", ["كوريا", "وكوريا", "لكوريا", "بكوريا", "وبكوريا"])
def test_korea_in_every_clitic_form(word: str) -> None:
    assert strip_clitics(normalize(word)) == "كوريا"


@pytest.mark.parametrize("word", ["الشمالية", "والشمالية", "بالشمالية", "للشمالية"])
def test_north_in_every_clitic_form(word: str) -> None:
    assert strip_clitics(normalize(word)) == "شماليه"


def test_clitic_forms_of_north_korea_in_corpus_sentences_analyze_alike() -> None:
    sentences = [
        "الوفد الرئيسي لكوريا الشمالية في الأولمبياد الشتوي",  # AL-internationalNews-159-20180222
        # AL-internationalNews-415-20180310
        "أعتقد أنه بما يتعلق بكوريا الشمالية فإن الأمور ستسير بنحو جيد",
        "وقال التقرير إن الصين وكوريا الشمالية وروسيا تشارك أحيانا",  # BB-economy-3-20180217
    ]
    for sentence in sentences:
        terms = analyze(sentence)
        i = terms.index("كوريا")
        assert terms[i + 1] == stem(normalize("الشمالية"))


@pytest.mark.parametrize(
    "word",
    [
        "بريطانيا",
        "لبنان",
        "فلسطين",
        "كتاب",
        "ولاية",
        "وزير",
        "وكالة",
        "ليبيا",
        "برشلونة",
        "فرنسا",
        "بيروت",
    ],
)
def test_words_that_merely_start_like_a_clitic_keep_their_letters(word: str) -> None:
    assert strip_clitics(normalize(word)) == normalize(word)


def test_a_real_clitic_on_those_words_still_goes() -> None:
    assert strip_clitics(normalize("وبريطانيا")) == "بريطانيا"  # BB-economy-40-20180117
    assert strip_clitics(normalize("ولبنان")) == "لبنان"  # AL-internationalNews-82-20131230
    assert strip_clitics(normalize("لبريطانيا")) == "بريطانيا"
    assert strip_clitics(normalize("بفرنسا")) == "فرنسا"


def test_lam_before_a_word_starting_with_lam_merges_correctly() -> None:
    # ل + اللاجئين is written للاجئين; the refugee word must survive whole.
    assert strip_clitics(normalize("للاجئين")) == "لاجيين"
    assert strip_clitics(normalize("وللاجئين")) == "لاجيين"


def test_allah_and_short_words_are_left_alone() -> None:
    assert strip_clitics("الله") == "الله"
    assert strip_clitics("بين") == "بين"
    assert strip_clitics("فقط") == "فقط"


# --- stemming ------------------------------------------------------------------------


def test_singular_and_plural_refugees_meet_at_one_stem() -> None:
    assert len(stems("لاجئ اللاجئون لاجئين للاجئين اللاجئين")) == 1


def test_related_forms_meet() -> None:
    assert len(stems("ولاية ولايات الولايات")) == 1
    assert len(stems("الانتخابات انتخابات انتخابية")) == 1
    assert len(stems("السعودية السعودي")) == 1
    assert len(stems("الفلسطيني فلسطينية والفلسطينيين")) == 1
    assert len(stems("الحكومة حكومتها")) == 1
    assert len(stems("سياسة سياسته")) == 1


def test_common_words_keep_a_recognisable_stem() -> None:
    assert stem(normalize("بريطانيا")) == "بريطانيا"
    assert stem(normalize("لبنان")) == "لبنان"
    assert stem(normalize("فلسطين")) == "فلسطين"
    assert stem(normalize("كتاب")) == "كتاب"
    assert stem(normalize("ولاية")).startswith("ولا") and len(stem(normalize("ولاية"))) >= 4


def test_distinct_words_stay_distinct() -> None:
    words = "بريطانيا لبنان فلسطين كتاب ولاية وزير وزارة وكالة قوات بيت مصر ليبيا لاجئ حكومة"
    assert len(stems(words)) == len(words.split())


def test_english_is_casefolded_and_snowball_stemmed() -> None:
    assert stem("elections") == stem("election") == "elect"
    assert analyze("The Elections were held; companies' shares rose") == [
        "elect",
        "held",
        "compani",
        "share",
        "rose",
    ]


# --- stop words and the full pipeline ------------------------------------------------


def test_stop_words_in_either_language_and_with_clitics() -> None:
    for word in ["في", "التي", "وقال", "ولم", "هذه", "إلى", "عن"]:
        assert is_stopword(normalize(word)), word
    assert is_stopword("the") and is_stopword("which")
    assert not is_stopword(normalize("الحكومة"))
    assert not is_stopword("government")


def test_analyze_a_corpus_sentence() -> None:
    # AL-economy-68-20180220
    sentence = "قال مصدر بالحكومة اللبنانية إن مؤتمرا للمانحين يستهدف حشد الدعم للاقتصاد اللبناني"
    terms = analyze(sentence)
    assert "قال" not in terms and "ان" not in terms
    assert terms[:2] == ["مصدر", "حكوم"]
    assert stem(normalize("اللبنانية")) == stem(normalize("اللبناني")) == "لبنان"
    assert terms.count("لبنان") == 2


def test_term_drops_stop_words_and_single_letters() -> None:
    assert term("في") is None
    assert term("ب") is None
    assert term("والحكومه") == "حكوم"


# --- language ------------------------------------------------------------------------


def test_detect_language_by_script_share() -> None:
    assert detect_language("نفى البيت الأبيض أن تكون الإدارة الأمريكية قد ناقشت مقترحا") == "ar"
    assert detect_language("Lindsay Lohan checks into rehab at Betty Ford clinic") == "en"
    assert detect_language("شركة Apple تطلق هاتف iPhone الجديد في الأسواق") == "ar"
    assert detect_language("") == "en"
