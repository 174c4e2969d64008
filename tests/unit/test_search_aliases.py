"""Aliases mined from glosses: kept when the Arabic spells the Latin, dropped otherwise."""

from khabar_search.alias_sync import merged_synonyms
from khabar_search.aliases import Alias, mine, synonyms


def pairs(text: str) -> set[tuple[str, str]]:
    return {(alias.latin, alias.arabic) for alias in mine(text)}


def test_a_gloss_in_parentheses_gives_the_nearest_words_that_spell_it() -> None:
    assert pairs("أعلنت شركة نايكي (Nike) عن أرباحها") == {("nike", "نايكي")}
    # A clitic on the name is not part of it; normalized as Meilisearch matches.
    assert pairs("وقال متحدث باسم لبزفييد (BuzzFeed) إن") == {("buzzfeed", "بزفييد")}
    # Two Arabic words for one Latin name.
    assert pairs("بحسب مكتبة غيتي إميدجز (GettyImages) للصور") == {("gettyimages", "غيتي اميدجز")}


def test_datelines_translations_and_words_are_not_aliases() -> None:
    assert pairs("دبي، الإمارات العربية المتحدة (CNN) -- قالت") == set()
    assert pairs("مكتب التحقيقات الفيدرالي (FBI) يحقق") == set()
    assert pairs("أن لدى حسابا (account) على") == set()


def test_each_pair_once_per_text() -> None:
    text = "تطبيق سبوتيفاي (Spotify) ... ومنصة سبوتيفاي (Spotify)"
    assert len(mine(text)) == 1


def test_synonyms_go_both_ways_and_join_the_gazetteer() -> None:
    table = synonyms([Alias(latin="nike", arabic="نايكي"), Alias(latin="nike", arabic="نايك")])
    assert table["nike"] == ["نايك", "نايكي"] and table["نايكي"] == ["nike"]
    merged = merged_synonyms([Alias(latin="buzzfeed", arabic="بزفييد")])
    assert merged["buzzfeed"] == ["بزفييد"]
    assert "فيفا" in merged["fifa"]  # the gazetteer's synonyms stay


def test_both_scripts_side_by_side_without_parentheses() -> None:
    # Bilingual writing: the Latin name after its Arabic spelling, before it, after a dash,
    # in quotes: each gives the pair, as a gloss in parentheses does.
    assert pairs("جمعت شركة تسمى كامبريدج أناليتيكا Cambridge Analytica، معلومات") == {
        ("cambridge analytica", "كامبريدج اناليتيكا")
    }
    assert pairs("المنافس المباشر لميزة أنيموجي Animoji لدى آبل") == {("animoji", "انيموجي")}
    assert pairs("أطلقت Tesla - تيسلا سيارتها") == {("tesla", "تيسلا")}
    assert pairs("تطبيق «Tinder» تندر للتعارف") == {("tinder", "تندر")}
    assert pairs("Nike (نايكي) تعلن") == {("nike", "نايكي")}


def test_a_word_beside_a_name_is_not_its_spelling() -> None:
    # Without parentheses only an exact spelling counts: Google is not خلال, nor Feed في وضع.
    assert pairs("تواصل الطلاب عبر Google خلال رحلتهم") == set()
    assert pairs("ميزة News Feed في وضع جديد") == set()
    assert pairs("يمكنك الاعتماد على تطبيق AirBattery لمعرفة") == set()
    # Model numbers read the same in both scripts.
    assert pairs("مقاتلات من طراز F35 انطلقت") == set()


def test_acronyms_pair_only_with_their_letters_read_out() -> None:
    assert pairs("قالت شبكة سي إن إن CNN إن") == {("cnn", "سي ان ان")}
    # A dateline's CNN beside any word is not a spelling of it.
    assert pairs("ولا تعكس بالضرورة وجهة نظر قناة CNN.") == set()
    assert pairs("معرض جي تي EUGT للسيارات") == set()


def test_a_clitic_comes_off_only_when_the_name_does_not_start_with_its_sound() -> None:
    assert pairs("على فيسبوك وبينتريست Pinterest وغيرها") == {("pinterest", "بينتريست")}
    assert pairs("صحيفة واشنطن (Washington)") == {("washington", "واشنطن")}
