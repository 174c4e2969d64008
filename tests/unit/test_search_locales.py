"""Which locales a reader's query is tokenized with, by its script and the site's languages."""

import pytest

from khabar_search.index_settings import index_settings
from khabar_search.locales import DEFAULT_LANGUAGES, dominant_script, query_locales
from khabar_search.settings import SearchSettings

LATIN = ["eng", "fra", "deu", "spa"]


@pytest.mark.parametrize(
    ("query", "locales"),
    [
        ("والحكومة اللبنانية", ["ara"]),
        ("شركة Apple تطلق هاتف iPhone", ["ara"]),  # a brand inside an Arabic query
        ("中国人民银行", ["cmn"]),
        ("記者会見が行われました", ["jpn"]),  # kana among the Han: Japanese
        ("서울 시장", ["kor"]),
        ("ראש הממשלה", ["heb"]),
        ("Путин заявил", ["rus"]),
        ("Klimaschutzgesetz", LATIN),  # Latin could be any Latin language: Meilisearch picks
        ("2026", LATIN),
    ],
)
def test_a_query_is_tokenized_as_the_language_of_its_script(query: str, locales: list[str]) -> None:
    assert query_locales(query, DEFAULT_LANGUAGES) == locales


def test_the_lang_filter_names_the_language() -> None:
    assert query_locales("Gesetz", DEFAULT_LANGUAGES, lang="de") == ["deu"]
    # A filter the site does not take falls back to the script.
    assert query_locales("Gesetz", DEFAULT_LANGUAGES, lang="xx") == LATIN


def test_only_the_sites_languages_are_sent() -> None:
    assert query_locales("Klimaschutzgesetz", ["ar", "en"]) == ["eng"]
    # Chinese not taken: the query goes as the declared languages, not as cmn.
    assert query_locales("中国人民银行", ["ar", "en"]) == ["eng"]


def test_the_index_declares_every_language_and_one_arabic_script() -> None:
    [rule] = index_settings(languages=["ar", "en", "zh", "de", "xx"])["localizedAttributes"]
    assert rule["locales"] == ["ara", "eng", "cmn", "deu"]
    default_locales = index_settings()["localizedAttributes"][0]["locales"]
    assert {"ara", "cmn", "deu", "fra"} <= set(default_locales)
    assert not {"fas", "urd", "pes"} & set(default_locales)


def test_the_setting_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KHABAR_SEARCH_LANGUAGES", " AR, en ,zz,de")
    assert SearchSettings().languages == ["ar", "en", "de"]


def test_no_letters_no_script() -> None:
    assert dominant_script("2026 — !") is None
