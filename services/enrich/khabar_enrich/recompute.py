"""The related list an article would get if it were enriched now, over every article the index
holds: what its kept list (after every refresh) should be, whatever order the articles came in.

Enrich itself never calls this; the bench (`bench.enrich_quality`) and the tests hold the kept
lists against it. It runs enrich's own code, not a copy: the article's indexed doc (its vector
as enriched), its candidates read from the index as `Enricher` reads them, scored by `rerank`
and diversified.
"""

from collections.abc import Iterable

from khabar_enrich.batch_view import BatchView
from khabar_enrich.index import RelatedIndex, doc_key
from khabar_enrich.scoring import IndexedDoc, diversify
from khabar_shared.events import RelatedLink
from khabar_shared.pipeline import key_reader
from khabar_shared.redis_helpers import RedisClient


async def related_now(
    redis: RedisClient, index: RelatedIndex, article_ids: Iterable[str], max_related: int
) -> dict[str, list[RelatedLink]]:
    """The list each indexed article of `article_ids` would get now, by id (those not in the
    index, withdrawn or embargoed, are left out)."""
    lists: dict[str, list[RelatedLink]] = {}
    async with key_reader(redis) as reader:
        view = BatchView(reader)  # nothing written: Redis as it is
        for article_id in article_ids:
            [raw] = await view.read([doc_key(article_id)], [None])
            if raw is None:
                continue
            doc = IndexedDoc.loads(raw)
            found = await view.command(index.candidates_read(doc))
            matches, _, _ = await index.matches(doc, found, view)
            lists[article_id] = [m.link() for m in diversify(matches, max_related)]
    return lists
