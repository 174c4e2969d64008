"""Do enrich's stories chain? Story sizes, spans and members that are not one story with each
other, per archive and arrival order.

    .venv/bin/python -m bench.story_chains [--limit 3000] [--saudinewsnet DIR] [--held-out 8000]

Replays enrich's handler (`bench.enrich_quality.replay`, its own redis-server) over ANT's first
`--limit` articles and, given `--saudinewsnet`, the last `--held-out` SaudiNewsNet articles, in
published order and shuffled within each week. For each, of the stories of two or more tellings:
how many, their sizes, how long each spans (its first to its last telling's publication), and of
the pairs within one story the share that are not the same story by `stories.same_story` or
`stories.same_text` on enrich's sketches (a chain: each joined through others). Between the two
orders: the share of the co-story pairs of one order that are co-story in the other (1 = a
story's membership does not depend on which telling came first). On SaudiNewsNet: of enrich's
joins (a telling not its story's root), the share the bench's 4-gram reprint rule also makes
(`bench.saudi_news.reprints`, strict: never two tellings by one paper).

Prints the figures; it is not a test. Measured once each, main (a telling joins the story of
any same-story member) against a join only when it tells the story's root, SaudiNewsNet last
8,000, published order: largest story 42 -> 28 tellings, longest span 5.0 -> 2.5 days, pairs
within a story not one story 0.239 -> 0.063, joins the reprint rule makes 0.619 -> 0.660,
co-story pairs kept in the weekly shuffle 0.815 -> 0.870; ANT 3,000: 0.118 -> 0.042 not one
story, kept in the shuffle 0.973 -> 0.953 (of about 200 pairs).
"""

import argparse
import asyncio
import itertools
import statistics
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.enrich_quality import ANT, arrival_order, in_published_order, private_redis, replay
from bench.known_item import stories as reprint_stories
from bench.saudi_news import reprints, saudi_articles
from khabar_enrich.scoring import published_at
from khabar_enrich.stories import STORY_WINDOW_S, Sketch, same_story, same_text, shingle_sketch
from khabar_enrich.tagging import tag_article, warm_up
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article
from khabar_shared.logging import configure_logging

ORDERS = ("published", "weekly-shuffle")


def co_story_pairs(stories: dict[str, str]) -> set[tuple[str, str]]:
    members: dict[str, list[str]] = defaultdict(list)
    for article_id, story in stories.items():
        members[story].append(article_id)
    return {
        (a, b) if a < b else (b, a)
        for ids in members.values()
        for a, b in itertools.combinations(ids, 2)
    }


def figures(
    articles: list[Article],
    stories: dict[str, str],
    sketches: dict[str, Sketch],
    reprinted: dict[str, frozenset[str]] | None,
) -> dict[str, str]:
    members: dict[str, list[str]] = defaultdict(list)
    for article_id, story in stories.items():
        members[story].append(article_id)
    told = [ids for ids in members.values() if len(ids) >= 2]
    when = {a.id: published_at(a) for a in articles}
    sizes = sorted(len(ids) for ids in told)
    spans = sorted((max(when[i] for i in ids) - min(when[i] for i in ids)) / 86_400 for ids in told)
    pairs = not_same = 0
    for ids in told:
        for a, b in itertools.combinations(ids, 2):
            pairs += 1
            sa, sb = sketches[a], sketches[b]
            not_same += not (same_story(sa, when[a], sb, when[b]) or same_text(sa, sb))
    joined = [(a, s) for a, s in stories.items() if a != s]
    out = {
        "stories of >= 2 tellings": str(len(told)),
        "tellings joined to another's story": str(len(joined)),
        "story size: median / p90 / max": (
            f"{statistics.median(sizes):.0f} / {sizes[int(0.9 * len(sizes))]} / {sizes[-1]}"
            if sizes
            else "-"
        ),
        "stories of >= 10 tellings": str(sum(s >= 10 for s in sizes)),
        "span, days: p90 / max": (
            f"{spans[int(0.9 * len(spans))]:.1f} / {spans[-1]:.1f}" if spans else "-"
        ),
        f"stories spanning > {STORY_WINDOW_S / 86_400:g} days (the story window)": str(
            sum(s > STORY_WINDOW_S / 86_400 for s in spans)
        ),
        "pairs within a story": str(pairs),
        "  of them not same_story/same_text": f"{not_same} ({not_same / max(pairs, 1):.3f})",
    }
    if reprinted is not None:
        agree = sum(1 for a, s in joined if s in reprinted.get(a, frozenset()))
        out["joins the 4-gram reprint rule also makes"] = (
            f"{agree} / {len(joined)} ({agree / max(len(joined), 1):.3f})"
        )
    return out


async def archive_table(
    name: str, articles: list[Article], reprinted: dict[str, frozenset[str]] | None, url: str
) -> Table:
    sketches = {a.id: shingle_sketch(tag_article(a).terms) for a in articles}
    rows: dict[str, list[str]] = {}
    co_story: list[set[tuple[str, str]]] = []
    for order in ORDERS:
        stories = (await replay(arrival_order(articles, order), url)).stories
        co_story.append(co_story_pairs(stories))
        for measure, figure in figures(articles, stories, sketches, reprinted).items():
            rows.setdefault(measure, []).append(figure)
    first, other = co_story
    kept = len(first & other) / max(len(first), 1)
    rows["co-story pairs of published order also co-story here"] = ["1", f"{kept:.3f}"]
    table = Table(title=f"enrich stories: {name} ({len(articles)} articles)")
    table.add_column("measure")
    for order in ORDERS:
        table.add_column(order)
    for measure, values in rows.items():
        table.add_row(measure, *values)
    return table


async def run(limit: int, saudi: Path | None, held_out: int, console: Console) -> None:
    warm_up()
    with private_redis() as url:
        ant = in_published_order(a for a in iter_corpus(ANT, limit=limit) if a.headline)
        console.print(await archive_table("ANT", ant, None, url))
        if saudi is not None:
            articles = saudi_articles(saudi)[-held_out:]
            reprinted = reprint_stories(reprints(articles))
            console.print(await archive_table("SaudiNewsNet", articles, reprinted, url))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=3000, help="ANT articles (default 3000)")
    parser.add_argument("--saudinewsnet", type=Path, default=None, help="SaudiNewsNet JSON folder")
    parser.add_argument("--held-out", type=int, default=8000, help="SaudiNewsNet articles")
    args = parser.parse_args()
    configure_logging("story-chains", "console", "WARNING")
    asyncio.run(run(args.limit, args.saudinewsnet, args.held_out, Console(width=140)))


if __name__ == "__main__":
    main()
