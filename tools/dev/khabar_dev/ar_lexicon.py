"""Builds the text package's Arabic frequency lexicon (`khabar_shared/text/data/ar_lexicon.tsv.gz`):

.venv/bin/python -m khabar_dev.ar_lexicon ../shared/corpus/ant-arabic-news-2018h1.jsonl.gz
"""

import gzip
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import orjson

from khabar_shared.text.lexicon import _DATA, LEXICON_FILE, MIN_COUNT


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
