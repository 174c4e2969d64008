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
