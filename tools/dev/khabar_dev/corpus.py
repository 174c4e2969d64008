"""Where the real articles for tests and benchmarks are.

The full corpus sits beside the repository (`../shared/corpus`, or wherever
`KHABAR_CORPUS_DIR` says); where it is missing, the repository's own subset
(`tests/data/corpus/`, same file names and format) stands in, so that tests
and benchmarks run the same on any machine.
"""

from pathlib import Path

from khabar_dev.processes import REPO_ROOT
from khabar_dev.settings import CorpusSettings

SUBSET_DIR = REPO_ROOT / "tests/data/corpus"
SAMPLE_AR = REPO_ROOT / "samples/articles.ar.jsonl.gz"
ANT = "ant-arabic-news-2018h1.jsonl.gz"
ECB = "ecbplus-english-events-topics01-20.jsonl.gz"
SILVER_PAIRS = "ant-2018h1-same-story-pairs.silver.json"


def corpus_file(name: str) -> Path:
    """`name` from KHABAR_CORPUS_DIR, else ../shared/corpus, else the bundled subset."""
    for folder in (CorpusSettings().corpus_dir, REPO_ROOT.parent / "shared/corpus"):
        if folder and (Path(folder) / name).exists():
            return Path(folder) / name
    return SUBSET_DIR / name
