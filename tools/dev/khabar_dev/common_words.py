"""Builds enrich's list of news's commonest chunks of text (`khabar_enrich/data/common_words.txt`):

.venv/bin/python -m khabar_dev.common_words ../shared/corpus/ant-arabic-news-2018h1.jsonl.gz
"""

import gzip
import sys
from collections import Counter
from itertools import islice
from pathlib import Path

import orjson

from khabar_dev.ant import corpus_article
from khabar_enrich.tagging import COMMON_WORDS, html_to_text, strip_dateline


def write_common_words_file(corpus: Path, skip: int = 4000, size: int = 30_000) -> Path:
    """Rebuild `data/common_words.txt`: the `size` commonest chunks of text (as `read_part` cuts
    them) of the ANT corpus, one a line, from its records after the first `skip`: those are the
    ones bench.enrich feeds, which a list made from them would flatter."""
    counts: Counter[str] = Counter()
    with gzip.open(corpus, "rb") as lines:
        for record in map(orjson.loads, islice(lines, skip, None)):
            article = corpus_article(record)
            body = strip_dateline(html_to_text(article.body_html).strip())
            for text in (article.headline, article.lead, body):
                counts.update(text.split())
    target = Path(str(COMMON_WORDS))
    target.write_text(
        "".join(f"{chunk}\n" for chunk, _ in counts.most_common(size)), encoding="utf-8"
    )
    return target


if __name__ == "__main__":
    write_common_words_file(Path(sys.argv[1]))
