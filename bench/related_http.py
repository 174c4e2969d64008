"""Related stories through the whole running system, by arrival order (issue 20).

    .venv/bin/python -m bench.related_http --order weekly-shuffle \
        --ingest-url http://127.0.0.1:22001 --render-url http://127.0.0.1:22003 \
        [--articles 600] [--since 2018-02-20]

Posts a window of ANT articles (`--articles` from `--since`, in published
order) to a running system (`make run`) one by one, as a newsroom would, in
the arrival order named (see `bench.enrich_quality.ORDERS`); waits until every
page renders and the pages stop changing; then reads each page's inline "see
also" links (the top four) and related block from render, and measures the
silver same-story pairs in the window: the share linked both ways in the top
four (goal >= 0.9), and at least one way. Pairs that are copies of one text
are left out (enrich never links a copy to itself).

The system must start empty for each order (a fresh `KHABAR_DATA_DIR` and
Redis): lists depend on every article in it. The write key is
`KHABAR_BOOTSTRAP_INGEST_KEY`. Prints the figures; it is not a test.
"""

import argparse
import os
import re
import time
from datetime import UTC, datetime

import httpx
from rich.console import Console
from rich.table import Table

from bench.enrich_measures import pair_recall
from bench.enrich_quality import (
    ANT,
    ORDERS,
    arrival_order,
    copy_pairs,
    in_published_order,
    out_of_order_share,
    silver_pairs,
)
from khabar_enrich.scoring import published_at
from khabar_ingest.formats.corpus import iter_corpus
from khabar_ingest.formats.writer import article_to_ninjs
from khabar_shared.events import Article

SEE_ALSO = re.compile(r'<p class="see-also">.*?<a href="/articles/([^"]+)"')
CARD = re.compile(r'data-article-id="([^"]+)"')
SETTLED_S = 10.0  # pages unchanged this long: the system is done with the window


def window(since: datetime, count: int) -> list[Article]:
    articles = in_published_order(a for a in iter_corpus(ANT) if a.headline)
    start = since.timestamp()
    return [a for a in articles if published_at(a) >= start][:count]


def shown(html: str) -> list[str]:
    """The page's related stories as a reader sees them: the inline links, then the block."""
    see_also = SEE_ALSO.findall(html)
    _, found, block = html.partition('<section class="related"')
    return see_also + (CARD.findall(block) if found else [])


def read_pages(client: httpx.Client, render_url: str, ids: list[str]) -> dict[str, list[str]]:
    pages = {}
    for article_id in ids:
        answer = client.get(f"{render_url}/articles/{article_id}", timeout=30)
        if answer.status_code == 200:
            pages[article_id] = shown(answer.text)
    return pages


def settle(client: httpx.Client, render_url: str, ids: list[str], console: Console) -> dict:
    """The pages once every one renders and none changed for SETTLED_S."""
    last: dict[str, list[str]] = {}
    stable_since = time.monotonic()
    while True:
        pages = read_pages(client, render_url, ids)
        if pages != last or len(pages) < len(ids):
            last, stable_since = pages, time.monotonic()
            console.print(f"  {len(pages)}/{len(ids)} pages rendered, still changing …")
        elif time.monotonic() - stable_since >= SETTLED_S:
            return pages
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--order", choices=list(ORDERS), required=True)
    parser.add_argument("--ingest-url", required=True)
    parser.add_argument("--render-url", required=True)
    parser.add_argument("--articles", type=int, default=600)
    parser.add_argument("--since", default="2018-02-20", help="first publication day (UTC)")
    args = parser.parse_args()
    console = Console()
    key = os.environ["KHABAR_BOOTSTRAP_INGEST_KEY"]
    since = datetime.fromisoformat(args.since).replace(tzinfo=UTC)
    articles = window(since, args.articles)
    arrived = arrival_order(articles, args.order)
    copies = copy_pairs(silver_pairs(), articles)
    present = {a.id for a in articles}
    pairs = [p for p in silver_pairs() if p not in copies and set(p) <= present]
    ids: dict[str, str] = {}
    started = time.monotonic()
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}) as client:
        for article in arrived:
            answer = client.post(
                f"{args.ingest_url}/v1/articles", json=article_to_ninjs(article), timeout=30
            )
            answer.raise_for_status()
            ids[article.id] = answer.json()["article_id"]
        posted_s = time.monotonic() - started
        console.print(f"posted {len(arrived)} articles, {ORDERS[args.order]}, in {posted_s:.0f} s")
        pages = settle(client, args.render_url, list(ids.values()), console)
    corpus_id = {page_id: corpus for corpus, page_id in ids.items()}
    related = {corpus_id[i]: [corpus_id.get(r, r) for r in links] for i, links in pages.items()}
    recall = pair_recall(pairs, related, {})
    table = Table(title=f"related stories over HTTP, {ORDERS[args.order]} (rendered pages)")
    for column in ("measure (goal)", "value"):
        table.add_column(column)
    table.add_row("articles posted (rendered)", f"{len(arrived)} ({len(pages)})")
    table.add_row("silver pairs in the window (copies left out)", f"{recall.pairs} ({len(copies)})")
    table.add_row("pairs arriving out of order", f"{out_of_order_share(pairs, arrived):.3f}")
    table.add_row("pairs: each in the other's see also (>= 0.9)", f"{recall.both:.3f}")
    table.add_row("pairs: at least one way", f"{recall.either:.3f}")
    table.add_row("until settled (s)", f"{time.monotonic() - started:.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
