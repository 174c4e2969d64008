"""Pick the bundled sample from the real corpora: `samples/articles.{ar,en}.jsonl.gz`.

    .venv/bin/python bench/make_sample.py [--corpus-dir ../shared/corpus] [--out samples]

Arabic (ANT v2.1): ~300 articles from 2018, spread over the five outlets and
six categories, with both members of some silver same-story pairs so related
stories show up. English (ECB+): two articles of the same event from each topic
(dated ones first), topped up to ~40 with one article of each topic's other
event (related, not the same story). Lines are copied verbatim, in the corpus'
own format, oldest first; the choice depends only on `--seed`, and the gzip
header carries no time, so re-running gives the same bytes.
"""

import argparse
import gzip
import io
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console

from khabar_ingest.formats.corpus import UNDATED, ecb_article

ROOT = Path(__file__).resolve().parents[1]
ANT_FILE = "ant-arabic-news-2018h1.jsonl.gz"
ECB_FILE = "ecbplus-english-events-topics01-20.jsonl.gz"
PAIRS_FILE = "ant-2018h1-same-story-pairs.silver.json"
# Long articles make a big sample; very short ones are teasers.
MIN_TEXT_CHARS, MAX_TEXT_CHARS = 400, 5000

console = Console()


def eligible(record: dict[str, Any]) -> bool:
    return (
        record["published"].startswith("2018")
        and MIN_TEXT_CHARS <= len(record["text"]) <= MAX_TEXT_CHARS
        and bool(record["title"].strip())
    )


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [line.rstrip("\n") for line in lines if line.strip()]


def pick_arabic(
    lines: list[str], pairs: list[dict[str, Any]], total: int, n_pairs: int, rng: random.Random
) -> list[str]:
    records = {json.loads(line)["docno"]: line for line in lines}
    meta = {docno: json.loads(line) for docno, line in records.items()}
    good = {docno for docno, record in meta.items() if eligible(record)}
    usable_pairs = sorted(
        (p for p in pairs if p["a"] in good and p["b"] in good), key=lambda p: -p["score"]
    )
    # evenly over the score range, not just the near-copies at the top
    step = max(1, len(usable_pairs) // n_pairs)
    chosen = {docno for p in usable_pairs[::step][:n_pairs] for docno in (p["a"], p["b"])}
    cells: dict[tuple[str, str], list[str]] = defaultdict(list)
    for docno in sorted(good - chosen):
        cells[(meta[docno]["source"], meta[docno]["categories"][0])].append(docno)
    for members in cells.values():
        rng.shuffle(members)
    while len(chosen) < total and any(cells.values()):
        for cell in sorted(cells):
            if cells[cell] and len(chosen) < total:
                chosen.add(cells[cell].pop())
    ordered = sorted(chosen, key=lambda docno: (meta[docno]["published"], docno))
    return [records[docno] for docno in ordered]


def pick_english(lines: list[str], total: int, per_topic: int) -> list[str]:
    by_event: dict[str, list[tuple[bool, str, str]]] = defaultdict(list)
    for line in lines:
        record = json.loads(line)
        article = ecb_article(record)
        dated = article.versioncreated != UNDATED and article.url is not None
        by_event[record["event"]].append((not dated, record["doc"], line))
    picked: list[str] = []
    others: list[str] = []  # the topic's other event: related, not the same story
    for topic in range(1, 21):
        events = [sorted(by_event[e]) for e in (f"{topic}a", f"{topic}b") if by_event[e]]
        if not events:
            continue
        events.sort(key=lambda docs: -sum(not undated for undated, _, _ in docs))
        picked.extend(line for _, _, line in events[0][:per_topic])
        if len(events) > 1:
            others.extend(line for _, _, line in events[1][:1])
    return picked + others[: max(0, total - len(picked))]


def write_gzip(path: Path, lines: list[str]) -> int:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as out:
        out.write(("\n".join(lines) + "\n").encode("utf-8"))
    path.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--out", type=Path, default=ROOT / "samples")
    parser.add_argument("--arabic", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--english", type=int, default=40)
    parser.add_argument("--english-per-topic", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2018)
    args = parser.parse_args()

    pairs = json.loads((args.corpus_dir / PAIRS_FILE).read_text(encoding="utf-8"))
    arabic = pick_arabic(
        read_lines(args.corpus_dir / ANT_FILE),
        pairs,
        args.arabic,
        args.pairs,
        random.Random(args.seed),
    )
    english = pick_english(
        read_lines(args.corpus_dir / ECB_FILE), args.english, args.english_per_topic
    )
    args.out.mkdir(parents=True, exist_ok=True)
    ar_size = write_gzip(args.out / "articles.ar.jsonl.gz", arabic)
    en_size = write_gzip(args.out / "articles.en.jsonl.gz", english)
    console.print(
        f"[bold]articles.ar.jsonl.gz[/]: {len(arabic)} articles, {ar_size / 1024:.0f} KiB"
    )
    console.print(
        f"[bold]articles.en.jsonl.gz[/]: {len(english)} articles, {en_size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
