"""Known-item search as a reader meets it, on a part of the archive nothing was tuned on.

    .venv/bin/python -m bench.known_item [--held-out 6000] [--items 300] [--saudinewsnet DIR]
        [--key old|new] [--half A|B]

`bench.relevance` asks for an article by 2–3 salient words of its own
headline: 0.99, because the words are exactly the article's. A reader is
rarely that kind. This bench makes the task as hard as one:

- **Held out.** The index is the last `--held-out` articles of the ANT corpus
  (May–June 2018), none of which the relevance suite (the first 3,000,
  February) or the judged sets were built from.
- **Another paper's words.** The reader read the story elsewhere. For each
  silver same-story pair (two outlets, `ant-2018h1-same-story-pairs`), the
  query is 2–3 salient words of *one* outlet's headline, and that article is
  left out of the index; the other outlet's telling must be found.
- **Reprints count.** Any article of the same story (the pairs joined into
  stories) is a correct answer.
- **Words as readers type them.** No hamza on alef, ه for a final ة, ي for
  ى, and the article ال dropped from every other word.

It reports MRR@10 through the service's query (`query.py`) and through plain
Meilisearch with default settings, on the same index and words, and beside
them the own-headline task on the same held-out index. Goal (issue 21): the
service ≥ 0.78 on the hard task.

Figures (2026-12-07, 5,819 held-out articles, 181 stories; default settings):
another paper's words as typed: khabar 0.508–0.511, raw Meilisearch 0.406;
the article's own headline words: khabar 0.995, raw 0.912. Where it fails,
the words the reader took from the first paper (its rarest, by construction)
are not in the other telling at all ('زاهر مستقبل ترمب'): of the 181 queries
(3 words each), a telling of the story holds all three words for 57, two
for 77, one for 44 and none for 3, so a lexical engine cannot pass about
0.75 here. Meilisearch's `frequency` strategy keeps the rarest word, the one
most often missing. With `relax.py` (a query whose best hit is weak asks
again with each word left out), same index and queries: hard task 0.578,
own headline 0.995 (relaxation ran for none of those 290 queries). Asking
every 3-word query relaxed gave 0.588; a trigger on the typed words' score
alone 0.582, but it pushed a derivation case of the relevance suite out of
its top three. The goal of 0.78 is not met.

Another country's papers (`--saudinewsnet`, see `bench/saudi_news.py`):
the last 8,000 articles of 14 Saudi papers (2015), which nothing here was
built or tuned on; stories are reprints that share half their word 4-grams.
Measured once, before any change to search, load 5–13 (7,700 indexed, 300
stories): another paper's words as typed: khabar 0.748, raw 0.616; an
article's own headline words as typed, any reprint counting: 0.974, raw
0.911; own words with only the article itself counting: 0.931, raw 0.883.
Counting looser reprints (a third of the 4-grams shared; by reading, about
four in five of the added pairs are the same story) made more, and harder,
stories: 0.723, raw 0.571. Read by hand, the misses are mostly either the
same kind of story told daily (weather, stock-market closes: "تتوقع امطارا
رعديه" finds yesterday's forecast) or reprints the 4-gram rule did not join,
ranked above the telling it did.

Tried and left out (2026-12-07, commit 618252d, reverted): one hit per story,
Meilisearch's search-time `distinct` on enrich's `story_id`, the copy that
best fits the words shown. That run replayed enrich over the held-out
articles for their story ids and measured the service with and without
stories on two indexes of one Meilisearch. ANT (5,819 indexed, enrich joined
516, load 6-7): hard task 0.583 with stories, 0.581 without, raw 0.406; own
headline words 0.995 both. SaudiNewsNet (7,700 indexed, enrich joined 2,448,
load 6): hard task 0.728 with stories, 0.745 without, raw 0.616; own headline
words 0.887 / 0.932 / 0.883; own words as typed, reprints counting 0.961 /
0.974 / 0.911: worse on every row there. Enrich's stories on these papers are
coarse: a telling joins its best same-story match's story, so stories chain
(42 reactions to one bombing in one story; 35 weather reports of several
days), and formulaic agency cables join different events (the leadership's
congratulations to Côte d'Ivoire and to Bolivia). Replayed over all 8,000
articles, enrich joined 2,754 to an earlier story; the 4-gram rule put 1,704
of them in that story (the rule is strict too: it never joins two tellings
of one paper). Hiding all but one telling of such a story
hides other stories; one hit per story needs story ids that join reprints only.

Where the words are (2026-12-07, `title_cover` in `query.py`): Meilisearch
counts the query words a document holds anywhere before it asks where, so
three words scattered through a long body (one of them often a typo match,
"رهيبة" for "رهينة") outrank another telling that holds two of them in its
headline. The merge now adds 0.6 × the share of the query's stems in a hit's
headline (a lead stem counts half; the stems are stored with the document).
Tuned on half the queries and reported on the other (split by a hash of the
source article id; 135 / 165 queries, one kept index of 7,700 articles): base
0.745 / 0.747, with it 0.762 / 0.767. The variants were compared on the tuning
half with typo tolerance off on that index (base 0.750 there): weight 0.1 0.752,
0.3 0.758, 0.6 0.762, 1.5 0.760 (headline and lead alike); at 0.6 headline only
0.759, lead at half 0.765. Typo tolerance itself moves little (off: 0.750 /
0.757; one typo from 7 letters: 0.749 / 0.762), so it is left alone. Whole bench,
alternating base then branch in one session, load 12–14: another paper's words
0.745 → 0.765 (raw 0.616), own headline words 0.931 → 0.934, own words as
typed 0.974 → 0.974. Still below 0.78. Of the tuning half's 42 misses, the top
hit held as many of the query's stems as the best correct telling in 17 and
more in 23: beyond where the words are, lexical ranking has little left here.

Halves (`--half`, from 2026-12-08): a query is in half A when sha1 of its source
article id is even. The 2026-12-07 split above was another one (135 / 165); by
this one the queries split 150 / 150 and today's search scores A 0.714, B 0.819,
full 0.766 (raw 0.565 / 0.666 / 0.616; one kept index of 7,700, load 9-14).
Tried on them and left out (commit e3af187, reverted):
- folding inflection in the stems of documents and queries (امطارا -> امطار,
  تتحمل / تحملت -> تحمل, يقترب -> اقترب, يسيطران -> سيطر; enrich's stems kept):
  A 0.720, B 0.800, full 0.758. It wins the queries it was made for ("تحملت
  تكاليف اسكان" 0 -> 1) and loses others: a long column's body then holds every
  folded stem (يطبق -> طبق) and outranks the short telling.
- the same with `search_text` cut to its first 150 stems: A 0.733, B 0.804;
  the cut alone A 0.714.
- the stems query asking Meilisearch's `last` strategy with its stems ordered
  commonest first (by the corpus lexicon), so that a telling without the
  reader's rarest word is found without `relax.py`: A 0.718, B 0.820 (one
  query either way).
In the misses of half A the top hit is often another telling of the same story
that the 4-gram rule did not join (same event, other words: "سفاح سينما
كولورادو يفلت من الإعدام" for "قاتل 12 شخصًا في السينما يفلت من عقوبة
الإعدام"), and joined stories chain unrelated articles (a Red Cross visit to
Yemen counts as a telling of "تبدأ عملية تحرير أبين"). Part of the gap to 0.78
is in the judgments, not the ranking.

Two answer keys (2026-12-08, `--key`). The 4-gram key (old) joins pairs by
union-find, so stories chain: on the last 8,000 articles one holds 39
different reactions to the Asir bombing, another the 2199 health-jobs call
and the teachers' candidate list. `bench.saudi_news.same_stories` (new)
joins by complete linkage over links of copy, words and rare names within two
days (see there). Neither is derived from what search returns. Read by hand
(`bench/data/saudi_same_story_judged.jsonl`: 62 pairs only the new key holds,
62 only the old, 30 both, judged from headline and lead, the bodies read
where the two share copy and were not judged one report; "part" = a roundup
holding the other's report): old-only pairs 4/62 one report (17/62 with
roundups), new-only 56/62, both 26/30 (30/30). Weighted by the pairs of each
kind (4,237 both, 1,439 old only, 1,816 new only), the old key's 5,676 pairs
are 0.66 one report (0.82 with roundups), the new key's 6,053 are 0.88
(0.97). The sample counts pairs, so the old key's large chained stories
(39 tellings: 741 pairs) weigh in it as they weigh in its pairs. What both
keys miss: of 538 pairs neither joins that two papers printed within a day
sharing two rare names and a third of their words, 24 read (kind `neither`),
10 are one report: about 220 missed pairs in that band alone (by the counts
above the old key holds about 3,770 pairs that are one report, the new 5,310).
The bench prints both keys on every run; the goal's verdict is given for
each, and which key is right is to be judged from that sample, not from
which scores higher. `--saudinewsnet DIR --held-out 8000 [--key new]`, one index of
7,700, load 6-13 (MRR@10 khabar / raw; the keys take about 90 s to build):

| queries taken from | judged by | half A | half B | all |
|---|---|---|---|---|
| old key (300) | old key | 0.710 / 0.565 (150) | 0.816* / 0.666 (150) | 0.763* / 0.616 (300) |
| old key (300) | new key | 0.759 / 0.586 (149) | 0.857 / 0.704 (149) | 0.808 / 0.645 (298) |
| new key (300) | new key | 0.724 / 0.553 (142) | 0.806 / 0.649 (158) | 0.767 / 0.604 (300) |
| new key (300) | old key | 0.702 / 0.546 (124) | 0.820 / 0.676 (131) | 0.762 / 0.613 (255) |

(* A second run of the first two rows, load 11-17, moved only the service's
old-key half B, 0.816 -> 0.819 (all 0.763 -> 0.765): its answers vary a little from run to
run under load; the new key's rows were equal.) Own headline words as typed,
reprints counting: 0.974 / 0.911 by the old key,
0.978 / 0.917 by the new (294 queries). On the queries every earlier figure
was measured on, the new key credits 0.808 (goal met there); on the queries
it makes itself, which ask also for stories other papers told in other words,
0.767 (not met). A query judged by a key that gives its story no other
indexed telling is left out of that key's row (the counts in brackets).
What the new key still gets wrong, by the sample: separate agency cables of
one visit (arrival, statement, departure) and two days' market reports joined
as one story (6 of 62 added pairs), and a roundup joined to one of the cables
it reprints; what it still misses: tellings that share only a name
("سفاح سينما كولورادو يفلت من الإعدام" is in no story).

Names spelled another way (2026-12-08, `cover_forms` in `query.py`): a query
word the lexicon has fewer than 100 times, whose first letter the stemmer took
for a clitic (كابل -> ابل), also counts as in a headline that writes it with
other long vowels between its first and last letters (كابول). Tuned on half A
of the `--key new` queries (one kept index, load 2-4): 0.738 -> 0.743, one
query ("اعنف قتيلا كابل" 0.25 -> 1). Comparing every rare word's stem by its
skeleton (فيرغسون / فيرغسن) gained nothing more on A and lost on B of the old
key's queries ("تحاكم اردنيا اميركيا" 0.5 -> 0.14: تحاكم / تحكم, اميركيا /
اميركا); ungated, A 0.741 (جيرمان / جرمان lifts another story; with the last
letter's vowel dropped too, ارهابيي / ارهاب); 100 keeps محاكمة from محكمة. On
kept indexes of both keys' queries no half-B query moves. Whole bench, base
730a3bc and the first (every rare stem) version alternating, two rounds, load
1-4 (khabar; raw beside); the final version in a third run, load 2-4: new key's
queries 0.743 / 0.810 / 0.778 by the new key, 0.715 / 0.818 / 0.768 by the old;
old key's queries 0.736 / 0.818 / 0.777 by the old key, 0.785 / 0.857 / 0.821
by the new (half B equal to base's on every row). The two rounds, base -> first version:

| queries / judged by | half A | half B | all | raw A / B / all |
|---|---|---|---|---|
| new / new | 0.738 -> 0.743 | 0.810 -> 0.810 | 0.776 -> 0.778 | 0.553 / 0.649 / 0.604 |
| new / old | 0.709 -> 0.715 | 0.818 -> 0.814-0.818 | 0.765 -> 0.766-0.768 | 0.546 / 0.676 / 0.613 |
| old / old | 0.731 -> 0.733-0.736 | 0.818 -> 0.817 | 0.775 -> 0.775-0.777 | 0.565 / 0.666 / 0.616 |
| old / new | 0.780 -> 0.781-0.785 | 0.857 -> 0.855 | 0.819 -> 0.818-0.820 | 0.586 / 0.704 / 0.645 |

Own headline words 0.928-0.935 both (raw 0.882-0.883); as typed, reprints
counting, unchanged (0.974-0.978). Goal still not met on the queries of
either key judged by that key (0.778; 0.775-0.777). The stemmer's ون / ين strip of
names (براون -> برا) was not changed: no word of half A's queries is a name
that loses them, so the tuning half has nothing to show for it.
"""

import argparse
import asyncio
import hashlib
import json
import secrets
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.relevance import (
    IndexFixture,
    document_frequencies,
    raw_search,
    salient_query,
    service_search,
)
from bench.saudi_news import judged_precision, reprints, same_stories, saudi_articles
from khabar_dev.corpus import ANT, SILVER_PAIRS, corpus_file
from khabar_dev.processes import ProcessGroup, free_port, start_meili
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.events import Article
from khabar_shared.meili_setup import provision_keys
from khabar_shared.text import tokenize

GOAL = 0.78
SAUDI = "SaudiNewsNet, 14 Saudi papers, 2015"
_READER_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي"})


@dataclass(frozen=True)
class KnownItem:
    query: str
    source_id: str  # the article whose words the reader remembers (not in the index)
    correct: frozenset[str]  # every telling of the story in the index
    # The same, by the other answer key (`Archive.key_of`); empty: that key sees no other telling.
    also: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Archive:
    name: str
    articles: list[Article]
    story_of: dict[str, frozenset[str]]  # article id -> every telling of its story
    # A second answer key judging the same queries (SaudiNewsNet: `same_stories`), and its name.
    key_of: dict[str, frozenset[str]] | None = None
    keys: tuple[str, str] = ("silver pairs", "")


def ant_archive(count: int) -> Archive:
    """The last `count` articles of ANT (it is oldest first), stories from the silver pairs."""
    articles = [a for a in iter_corpus(corpus_file(ANT)) if a.headline][-count:]
    pairs = silver_pairs_within({a.id for a in articles})
    return Archive("ANT, May–June 2018", articles, stories(pairs))


OLD_KEY = "old key (4-gram reprints, chained)"
NEW_KEY = "new key (same_stories, complete linkage)"


def saudi_archive(folder: Path, count: int, key: str = "old") -> Archive:
    """The last `count` articles of SaudiNewsNet, judged by both answer keys.

    `key` is the one whose stories the queries are taken from (`known_items`): "old",
    the 4-gram reprints (so the queries are the ones every earlier figure was measured
    on), or "new", `same_stories`, which also asks for stories told in other words.
    """
    articles = saudi_articles(folder)[-count:]
    old, new = stories(reprints(articles)), same_stories(articles)
    if key == "new":
        return Archive(SAUDI, articles, new, key_of=old, keys=(NEW_KEY, OLD_KEY))
    return Archive(SAUDI, articles, old, key_of=new, keys=(OLD_KEY, NEW_KEY))


def stories(pairs: list[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Each article id of a pair -> every id joined to it through pairs (one story)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    for a, b in pairs:
        parent[root(a)] = root(b)
    members: dict[str, set[str]] = {}
    for node in parent:
        members.setdefault(root(node), set()).add(node)
    return {node: frozenset(members[root(node)]) for node in parent}


def silver_pairs_within(ids: set[str]) -> list[tuple[str, str]]:
    raw = json.loads(corpus_file(SILVER_PAIRS).read_text())
    pairs = [(p["a"].lower(), p["b"].lower()) for p in raw]
    return [(a, b) for a, b in pairs if a in ids and b in ids]


def as_typed(query: str, headline: str) -> str:
    """The words as a reader types them: plain alef, final ه and ي, ال on every other word.

    `query` holds normalized tokens of `headline`; the article ال is dropped
    only where the headline wrote it: إلكتروني is one word (typed الكتروني),
    never كتروني.
    """
    written = {token: word for word in headline.split() for token in tokenize(word)[:1]}
    words = []
    for n, word in enumerate(query.split()):
        has_article = written.get(word, word).lstrip("«\"'(“").startswith("ال")
        if n % 2 == 0 and has_article and len(word) > 4:
            word = word[2:]
        word = word.translate(_READER_LETTERS)
        if word.endswith("ة"):
            word = word[:-1] + "ه"
        words.append(word)
    return " ".join(words)


def known_items(archive: Archive, df: Counter[str], limit: int) -> tuple[list[KnownItem], set[str]]:
    """The queries, and the articles they were taken from (to leave out of the index)."""
    by_id = {a.id: a for a in archive.articles}
    sources: set[str] = set()
    items: list[KnownItem] = []
    for story in sorted(set(archive.story_of.values()), key=sorted):
        # The first telling is what the reader read; the rest must be found.
        source, *others = sorted(story)
        if not others:
            continue
        words = salient_query(by_id[source], df, len(by_id))
        if len(words.split()) < 2:
            continue
        sources.add(source)
        query = as_typed(words, by_id[source].headline)
        items.append(KnownItem(query, source, frozenset(others)))
        if len(items) >= limit:
            break
    if archive.key_of is not None:
        items = [
            replace(item, also=archive.key_of.get(item.source_id, frozenset()) - sources)
            for item in items
        ]
    return items, sources


def half_of(source_id: str) -> str:
    """The half a query belongs to, by a hash of the article it was taken from: tune a
    change on half A, report it on half B (`--half`)."""
    return "A" if int(hashlib.sha1(source_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def first_rank(found: list[str], correct: frozenset[str]) -> float:
    for rank, article_id in enumerate(found, start=1):
        if article_id in correct:
            return 1.0 / rank
    return 0.0


@dataclass(frozen=True)
class Asked:
    item: KnownItem
    ours: list[str]  # the service's first ten ids
    raw: list[str]  # plain Meilisearch's


async def ask(fixture: IndexFixture, items: list[KnownItem]) -> list[Asked]:
    """Each query through the service and through plain Meilisearch, once (each key judges)."""
    client = fixture.service()
    asked = []
    try:
        for item in items:
            ours = await service_search(client, item.query)
            raw = await raw_search(
                fixture.meili_url, fixture.search_key, fixture.raw_index, item.query
            )
            asked.append(Asked(item, ours, raw))
    finally:
        await client.aclose()
    return asked


def judged(asked: list[Asked], new_key: bool = False) -> tuple[float, float, int]:
    """MRR@10 of the service and of raw Meilisearch, and the queries judged.

    `new_key`: correct answers by the archive's second key; a query whose story that key
    holds no other indexed telling of is not a known-item query there and is left out.
    """
    ours = raw = 0.0
    count = 0
    for answer in asked:
        correct = answer.item.also if new_key else answer.item.correct
        if not correct:
            continue
        count += 1
        ours += first_rank(answer.ours, correct)
        raw += first_rank(answer.raw, correct)
    return ours / max(count, 1), raw / max(count, 1), count


async def mrr(fixture: IndexFixture, items: list[KnownItem]) -> tuple[float, float]:
    ours, raw, _ = judged(await ask(fixture, items))
    return ours, raw


def own_headline_items(
    archive: Archive, df: Counter[str], left_out: set[str], limit: int, typed: bool = False
) -> list[KnownItem]:
    """`bench.relevance`'s task on the same index: an article's own headline words.

    `typed`: the words as a reader types them, and any reprint of the story counts.
    """
    articles = archive.articles
    items = []
    for article in articles[:: max(1, len(articles) // limit)]:
        words = salient_query(article, df, len(articles))
        if article.id in left_out or len(words.split()) < 2:
            continue
        correct = also = frozenset({article.id})
        if typed:
            words = as_typed(words, article.headline)
            correct |= archive.story_of.get(article.id, frozenset()) - left_out
            also |= (archive.key_of or {}).get(article.id, frozenset()) - left_out
        items.append(KnownItem(words, article.id, correct, also))
    return items[:limit]


async def run(archive: Archive, limit: int, half: str | None = None) -> None:
    console = Console()
    df = document_frequencies(archive.articles)
    items, left_out = known_items(archive, df, limit)
    # Every query's source stays out of the index, so both halves search the same archive.
    items = [item for item in items if half is None or half_of(item.source_id) == half]
    own = own_headline_items(archive, df, left_out, limit)
    typed = own_headline_items(archive, df, left_out, limit, typed=True)
    indexed = [a for a in archive.articles if a.id not in left_out]
    group = ProcessGroup()
    with tempfile.TemporaryDirectory(prefix="khabar-known-item-") as tmp:
        try:
            master = secrets.token_hex(16)
            url = start_meili(group, Path(tmp) / "meili", free_port(), master)
            keys = provision_keys(url, master)
            fixture = IndexFixture(url, keys.index_key, keys.search_key, "articles")
            with console.status(f"indexing {len(indexed)} held-out articles"):
                await fixture.load(indexed)
            hard = await ask(fixture, items)
            easy = await mrr(fixture, own)
            as_read = await ask(fixture, typed)
        finally:
            group.stop_all()
    table = Table(title=f"Known-item MRR@10 over {len(indexed)} held-out articles ({archive.name})")
    for column in ("task", "queries", "khabar search", "raw Meilisearch"):
        table.add_column(column, justify="left" if column == "task" else "right")
    verdicts = []
    for key, new_key in ((archive.keys[0], False), (archive.keys[1], True)):
        if new_key and archive.key_of is None:
            continue
        for part in (half,) if half else ("A", "B", None):
            chosen = [a for a in hard if part is None or half_of(a.item.source_id) == part]
            ours, raw, count = judged(chosen, new_key)
            if part == half:
                verdicts.append(f"{key} {ours:.3f} " + ("met" if ours >= GOAL else "NOT met"))
            label = f"half {part}" if part else "all"
            table.add_row(
                f"another paper's words, as typed, {label}; {key}",
                str(count),
                f"{ours:.3f}",
                f"{raw:.3f}",
            )
    table.add_row("the article's own headline words", str(len(own)), *(f"{v:.3f}" for v in easy))
    for key, new_key in ((archive.keys[0], False), (archive.keys[1], True)):
        if new_key and archive.key_of is None:
            continue
        ours, raw, count = judged(as_read, new_key)
        table.add_row(
            f"own headline words as typed, reprints count; {key}",
            str(count),
            f"{ours:.3f}",
            f"{raw:.3f}",
        )
    console.print(table)
    if archive.key_of is not None:
        # Which key is right is read by hand, not taken from the scores above.
        by_key = dict(zip((OLD_KEY, NEW_KEY), judged_precision(*_old_then_new(archive))))
        for key, precision in by_key.items():
            console.print(
                f"  {key}: {precision.pairs} same-story pairs, by the judged sample "
                f"{precision.strict:.2f} one report ({precision.lenient:.2f} with roundups)"
            )
    for item in items[:5]:
        console.print(f"  e.g. {item.query!r} (read in {item.source_id})")
    if half:
        # Half B ranks easier than half A: one half's figure says nothing of the goal.
        console.print(f"goal ≥ {GOAL} is judged on the whole set, not on half {half}")
    else:
        # Which key is right is judged from bench/data/saudi_same_story_judged.jsonl (the
        # precision of each key's pairs read by hand), never from which one scores higher.
        console.print(f"goal ≥ {GOAL}: " + "; ".join(verdicts))


def _old_then_new(
    archive: Archive,
) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    keys = (archive.story_of, archive.key_of or {})
    return keys if archive.keys[0] == OLD_KEY else keys[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--held-out", type=int, default=6000)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument(
        "--half",
        choices=("A", "B"),
        help="only the hard task's queries of this half (A to tune on, B to report)",
    )
    parser.add_argument(
        "--saudinewsnet",
        type=Path,
        help="SaudiNewsNet's JSON folder (see bench/saudi_news.py): "
        "hold out its articles, not ANT's",
    )
    parser.add_argument(
        "--key",
        choices=("old", "new"),
        default="old",
        help="SaudiNewsNet: the answer key whose stories the queries come from "
        "(both keys judge them)",
    )
    args = parser.parse_args()
    archive = (
        saudi_archive(args.saudinewsnet, args.held_out, args.key)
        if args.saudinewsnet
        else ant_archive(args.held_out)
    )
    asyncio.run(run(archive, args.items, args.half))


if __name__ == "__main__":
    main()
