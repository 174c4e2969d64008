"""The word lists the analyzers lean on: stop words and the Arabic frequency lexicon.

`data/ar_lexicon.tsv.gz` holds every normalized Arabic word form seen at least
five times in the ANT 2018 news corpus (Chouigui, Ben Khiroun, Elayeb,
AICCSA 2017), with its count. The clitic stripper and stemmer ask it whether a
candidate stem is a real word. `khabar_dev.ar_lexicon` rebuilds it:

    .venv/bin/python -m khabar_dev.ar_lexicon ../shared/corpus/ant-arabic-news-2018h1.jsonl.gz
"""

import gzip
from functools import lru_cache
from importlib import resources

MIN_COUNT = 5
_DATA = resources.files("khabar_shared.text") / "data"
LEXICON_FILE = "ar_lexicon.tsv.gz"


def load_stopwords(lang: str) -> list[str]:
    """The stop word list of a language as written in its data file, comments dropped."""
    text = (_DATA / f"{lang}_stopwords.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, int]:
    counts: dict[str, int] = {}
    with gzip.open(str(_DATA / LEXICON_FILE), "rt", encoding="utf-8") as lines:
        for line in lines:
            word, _, count = line.rstrip("\n").partition("\t")
            counts[word] = int(count)
    return counts


def frequency(word: str) -> int:
    """Corpus count of a normalized Arabic word form (0 when rarer than MIN_COUNT)."""
    return _lexicon().get(word, 0)
