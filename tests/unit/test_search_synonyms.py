"""Search's synonyms: spellings of one name, generated from enrich's gazetteer data file."""

import json
from pathlib import Path

from khabar_dev import search_synonyms
from khabar_search.synonyms import edit_distance, load_synonyms, synonym_groups, synonyms_map

REPO = Path(__file__).resolve().parents[2]
GAZETTEER = REPO / "services/enrich/khabar_enrich/data/gazetteer.json"


def test_committed_file_matches_the_gazetteer() -> None:
    """Fails when the gazetteer changed and `khabar_dev.search_synonyms` was not run."""
    assert search_synonyms.build(GAZETTEER)["synonyms"] == load_synonyms()


def test_transliterations_and_scripts_meet() -> None:
    synonyms = load_synonyms()
    assert "ترامب" in synonyms["ترمب"] and "ترمب" in synonyms["ترامب"]
    assert "فيفا" in synonyms["fifa"]
    assert {"آبل", "أبل"} & set(synonyms["apple"])
    assert "نتنياهو" in synonyms["netanyahu"] and "نتانياهو" in synonyms["نتنياهو"]


def test_stand_ins_are_not_synonyms() -> None:
    """The gazetteer tags واشنطن as the United States; a search for it must not find all US news."""
    synonyms = load_synonyms()
    assert "واشنطن" not in synonyms
    assert "washington" not in synonyms
    assert "الولايات المتحدة" not in synonyms.get("us", [])
    assert "أمير قطر" not in synonyms


def test_groups_keep_spellings_and_drop_others() -> None:
    entries = [
        {
            "id": "person:x",
            "type": "person",
            "ar": "دونالد ترامب",
            "en": "Donald Trump",
            "match": {"ar": ["ترامب", "ترمب", "سيد البيت الأبيض"], "en": ["Trump", "POTUS"]},
        }
    ]
    [group] = synonym_groups(entries)
    assert group == ["دونالد ترامب", "Donald Trump", "ترامب", "ترمب", "Trump"]
    mapping = synonyms_map([group])
    assert "ترامب" in mapping["trump"] and "trump" not in [v.lower() for v in mapping["trump"]]


def test_edit_distance() -> None:
    assert edit_distance("ترمب", "ترامب") == 1
    assert edit_distance("بوتن", "بوتين") == 1
    assert edit_distance("واشنطن", "امريكا") > 2


def test_file_is_json_with_groups() -> None:
    data = json.loads(
        (REPO / "services/search/khabar_search/data/synonyms.json").read_text("utf-8")
    )
    assert len(data["groups"]) > 300
