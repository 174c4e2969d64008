"""Arabic: orthographic normalization, clitic stripping and a light stemmer.

The clitic stripper and the stemmer are *light*: they remove what Arabic glues
onto a word (و ف ب ك ل, the article ال, pronoun and number suffixes) and stop
there. Where a single letter could be a clitic or part of the word (the ب of
بريطانيا, the ل of لبنان, the و of ولاية), a frequency lexicon of the 2018 news
corpus decides: the letter goes only when what remains is a better-attested
word than the whole. That keeps names and common words intact without a
hand-written exception list that would never be complete.
"""

from functools import lru_cache

from khabar_shared.text.lexicon import frequency, load_stopwords

# Tashkeel (fathatan .. sukun), superscript alef, Quranic marks, tatweel: dropped.
_DROPPED = [*range(0x064B, 0x0653), 0x0670, *range(0x06D6, 0x06EE), 0x0640]
_UNIFIED = {
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ى": "ي",
    "ة": "ه",
    "ؤ": "و",
    "ئ": "ي",
    "ک": "ك",
    "ی": "ي",
    "ے": "ي",  # Persian/Urdu letter forms seen in names
}
_DIGITS = {
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
}
# Punctuation that Arabic text uses besides ASCII: comma, semicolon, question
# mark, full stop, percent/decimal signs, guillemets, dashes and quotes.
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~،؛؟۔٪٫٬«»…–—‘’“”•·"

NORMALIZE_TABLE: dict[int, str | None] = {
    **{c: None for c in _DROPPED},
    **{ord(k): v for k, v in _UNIFIED.items()},
    **{ord(k): v for k, v in _DIGITS.items()},
    **{ord(p): " " for p in _PUNCTUATION},
}

ARTICLE = "ال"
_CONJUNCTIONS = ("و", "ف")
_PREPOSITIONS = ("ب", "ك", "ل")
# Article combined with a preposition and/or conjunction, longest first.
_ARTICLE_FORMS = ("وبال", "فبال", "وكال", "فكال", "وال", "فال", "بال", "كال")
# ل + ال is written لل; when the word itself starts with ل the two lams merge
# (ل + اللاجئين = للاجئين), so both readings are tried.
_LAM_ARTICLE_FORMS = ("ولل", "فلل", "لل")
# Words that merely start like an article or a clitic and must stay whole.
_PROTECTED = frozenset({"الله", "اللهم", "لله", "بالله", "والله", "الي", "الا", "الان"})

MIN_STEM = 3
# Suffix groups, peeled off in this order, at most one from each group;
# within a group the longest suffix that leaves an attested stem wins.
_PRONOUN_SUFFIXES = ("هما", "كما", "ها", "هم", "هن", "كم", "نا")
_NUMBER_SUFFIXES = ("يين", "يون", "تين", "تان", "ات", "ون", "ين")
_FINAL_SUFFIXES = ("يه", "ه", "ي")
# A nisba/plural suffix must leave a longer stem than the minimum, so that
# ولاية/ولايات meet at ولاي and not at the particle ولا.
_MIN_STEM_FOR = {"يه": 4, "ي": 4, "يين": 4, "يون": 4}
_ATTESTED = 5  # corpus count from which a candidate stem counts as a real word


def normalize_arabic(text: str) -> str:
    """Unify spelling variants, drop diacritics and tatweel, ASCII digits, no punctuation."""
    return text.translate(NORMALIZE_TABLE)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(normalize_arabic(w) for w in load_stopwords("ar"))


def _score(stem: str) -> int:
    """How often a stem appears in the corpus as a word, bare or with the article."""
    return frequency(stem) + frequency(ARTICLE + stem)


def _better_attested(rest: str, whole: str) -> bool:
    """True when `rest` is more plausibly the word than `whole` with its first letters."""
    return _score(rest) > max(frequency(whole), _ATTESTED - 1)


def _strip_article(word: str, min_rest: int = 2) -> str | None:
    """The word without a leading (conjunction/preposition +) article, or None."""
    for form in _LAM_ARTICLE_FORMS:
        if word.startswith(form) and len(word) - len(form) >= min_rest:
            rest = word[len(form) :]
            merged = "ل" + rest
            return merged if _score(merged) > _score(rest) else rest
    for form in _ARTICLE_FORMS:
        rest = word[len(form) :]
        if word.startswith(form) and len(rest) >= max(min_rest, MIN_STEM):
            # A rare whole word needs a longer remainder: فالكون is Falcon, not ف+ال+كون.
            long_enough = frequency(word) >= _ATTESTED or len(rest) > MIN_STEM
            if long_enough and (_score(rest) > frequency(word) or _score(rest) == 0):
                return rest
    if word.startswith(ARTICLE) and len(word) - 2 >= min_rest:
        return word[2:]
    return None


def _strip_proclitic(word: str, letters: tuple[str, ...]) -> str | None:
    if word[0] not in letters:
        return None
    rest = word[1:]
    if rest in stopwords() or (len(rest) >= MIN_STEM and _better_attested(rest, word)):
        return rest
    # و/ف before a preposition or the article: وبكوريا, فالحكومة, ولبنان.
    # Only when the fully bare word beats the whole (not وكالة -> كالة -> الة).
    if len(rest) > MIN_STEM and (rest[0] in _PREPOSITIONS or rest.startswith(ARTICLE)):
        inner = _strip_article(rest) or _strip_proclitic(rest, _PREPOSITIONS)
        if inner is not None and _better_attested(inner, word):
            return rest
    return None


@lru_cache(maxsize=300_000)
def strip_clitics(token: str) -> str:
    """Remove a leading conjunction, preposition and article from a normalized token.

    "والحكومه", "بالحكومه", "للحكومه" -> "حكومه"; "وكوريا" -> "كوريا";
    "بريطانيا", "لبنان", "ولايه" stay as they are.
    """
    word = token
    if len(word) < 3 or word in _PROTECTED or word in stopwords():
        return word
    stripped = _strip_article(word)
    if stripped is not None:
        return stripped
    for letters in (_CONJUNCTIONS, _PREPOSITIONS):
        rest = _strip_proclitic(word, letters)
        if rest is None:
            continue
        word = rest
        if len(word) < 3 or word in _PROTECTED or word in stopwords():
            return word
        # After a clitic the article must leave a real stem: والدي is not و+ال+دي.
        stripped = _strip_article(word, min_rest=MIN_STEM)
        if stripped is not None:
            return stripped
    return word


def _attested_stem(stem: str) -> bool:
    """A stem is real when the corpus has it bare or with a ta marbuta (ت before a pronoun)."""
    if frequency(stem) >= _ATTESTED or frequency(stem + "ه") >= _ATTESTED:
        return True
    return stem.endswith("ت") and frequency(stem[:-1] + "ه") >= _ATTESTED


def _peel(word: str, suffixes: tuple[str, ...], check: bool = True) -> str:
    for suffix in suffixes:
        if not word.endswith(suffix):
            continue
        stem = word[: -len(suffix)]
        if len(stem) < _MIN_STEM_FOR.get(suffix, MIN_STEM):
            continue
        if not check or _attested_stem(stem):
            return stem
    return word


def _restore_ta_marbuta(stem: str) -> str:
    """حكومتها -> حكومت -> حكومه: ta marbuta is written ت before a pronoun."""
    if stem.endswith("ت") and frequency(stem[:-1] + "ه") > frequency(stem):
        return stem[:-1] + "ه"
    return stem


@lru_cache(maxsize=300_000)
def stem_arabic(token: str) -> str:
    """Light stem of a normalized, clitic-free token.

    لاجي / لاجيين / لاجيون -> لاجي; سياساتهم -> سياس; ولايه / ولايات -> ولاي;
    فلسطين, لبنان, بريطانيا, كتاب keep their shape.
    """
    if len(token) <= MIN_STEM or token in _PROTECTED:
        return token
    word = _peel(token, _PRONOUN_SUFFIXES)
    if word != token:
        word = _restore_ta_marbuta(word)
    word = _peel(word, _NUMBER_SUFFIXES)
    word = _peel(word, _FINAL_SUFFIXES)
    if word != token and _restore_ta_marbuta(word) != word:
        word = word[:-1]  # سياسته -> سياست -> سياس, as سياسة
    return word
