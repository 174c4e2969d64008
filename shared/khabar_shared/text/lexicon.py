"""The word lists the analyzers lean on: stop words and the Arabic frequency lexicon.

`data/ar_lexicon.tsv.gz` holds every normalized Arabic word form seen at least
five times in the ANT 2018 news corpus (Chouigui, Ben Khiroun, Elayeb,
AICCSA 2017), with its count. The clitic stripper and stemmer ask it whether a
candidate stem is a real word. Rebuild it with `build_lexicon`:

    python -m khabar_shared.text.lexicon ../shared/corpus/ant-arabic-news-2018h1.jsonl.gz
"""

import gzip
import sys
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

import orjson

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


def build_lexicon(texts: Iterable[str], min_count: int = MIN_COUNT) -> Counter[str]:
    """Count normalized Arabic word forms in `texts`, keeping those seen `min_count` times."""
    from khabar_shared.text import arabic_tokens  # here: the text package imports this module

    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(arabic_tokens(text))
    return Counter({word: n for word, n in counts.items() if n >= min_count})


def write_lexicon(counts: Counter[str], path: Path) -> None:
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as out:
        for word, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            out.write(f"{word}\t{count}\n")


def _corpus_texts(corpus: Path) -> Iterable[str]:
    with gzip.open(corpus, "rb") as lines:
        for line in lines:
            article = orjson.loads(line)
            yield " ".join(filter(None, (article.get("title"), article.get("text"))))


if __name__ == "__main__":
    target = Path(str(_DATA / LEXICON_FILE))
    write_lexicon(build_lexicon(_corpus_texts(Path(sys.argv[1]))), target)
