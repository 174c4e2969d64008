"""Writes tests/data/corpus/: the part of ../shared/corpus that the tests read.

Tests read the shared corpus when it sits beside the repository and this
subset otherwise, so that `make test` runs the same on any machine. The
subset keeps the corpus' file names and format: the first 3,000 ANT articles
(the relevance suite indexes those), the records some tests name by docno or
day, the whole (small) English ECB+ file and the silver pairs.

    .venv/bin/python tests/data/make_corpus_subset.py
"""

import gzip
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[2] / "shared" / "corpus"
TARGET = HERE / "corpus"
ANT = "ant-arabic-news-2018h1.jsonl.gz"
FIRST = 3000
NAMED = {"BB-technology-112-20180329", "SK-technology-25-20180214"}
NAMED_DAY, NAMED_CATEGORY = "2018-03-28", "technology"


def wanted(index: int, record: dict) -> bool:
    on_day = record["published"].startswith(NAMED_DAY) and NAMED_CATEGORY in record["categories"]
    return index < FIRST or record["docno"] in NAMED or on_day


def main() -> None:
    TARGET.mkdir(exist_ok=True)
    with gzip.open(SOURCE / ANT, "rt", encoding="utf-8") as lines:
        kept = "".join(line for index, line in enumerate(lines) if wanted(index, json.loads(line)))
    # mtime=0: the same subset gives the same bytes, so git sees no change.
    (TARGET / ANT).write_bytes(gzip.compress(kept.encode(), mtime=0))
    for name in (
        "ecbplus-english-events-topics01-20.jsonl.gz",
        "ant-2018h1-same-story-pairs.silver.json",
    ):
        shutil.copyfile(SOURCE / name, TARGET / name)


if __name__ == "__main__":
    main()
