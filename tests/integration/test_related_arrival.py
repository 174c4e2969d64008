"""Related stories through the whole system, whatever order the news arrives in (issue 20).

Articles are posted to ingest as a newsroom would, the one published later
first; the page render serves for it must come to show the earlier one, and
show exactly what enrich's refresh decided: its first four related stories as
the inline "see also" links, the next four in the related block.
"""

import itertools
from typing import Any

import httpx
import pytest
import redis

from khabar_shared.events import EnrichedEvent, decode_event
from khabar_shared.names import ENRICHED_STREAM
from tests.conftest import System
from tests.integration.test_render_service import related_ids, see_also_ids
from tests.support import CORPUS_AR, corpus_lines, eventually, to_ninjs

EARLIER, LATER = "fr-middleeast-11-20180216", "al-internationalnews-40-20180216"  # one story
DAY = "20180216"
BACKGROUND = 40


def post(system: System, document: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{system.ingest_url}/v1/articles",
        json=document,
        headers={"Authorization": f"Bearer {system.ingest_key}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["article_id"])


def page(system: System, article_id: str) -> str | None:
    answer = httpx.get(f"{system.render_url}/articles/{article_id}", timeout=10)
    return answer.text if answer.status_code == 200 else None


def enriched_events(system: System) -> list[EnrichedEvent]:
    log = redis.Redis.from_url(system.env["KHABAR_REDIS_URL"])
    try:
        return [decode_event(EnrichedEvent, fields) for _, fields in log.xrange(ENRICHED_STREAM)]
    finally:
        log.close()


@pytest.fixture(scope="module")
def records() -> dict[str, dict[str, Any]]:
    """The pair and the first articles of their day, from the first 1,500 of the corpus."""
    first = itertools.islice(corpus_lines(CORPUS_AR), 1500)
    of_day = [r for r in first if r["docno"].lower().endswith(DAY)]
    wanted = {EARLIER, LATER}
    found = {r["docno"].lower(): r for r in of_day if r["docno"].lower() in wanted}
    assert set(found) == wanted, "the corpus lacks the pair"
    background = [r for r in of_day if r["docno"].lower() not in wanted][:BACKGROUND]
    return {**{r["docno"].lower(): r for r in background}, **found}


def test_the_article_that_arrived_first_shows_the_earlier_telling_as_enrich_refreshed_it(
    system: System, records: dict[str, dict[str, Any]]
) -> None:
    ids = {
        docno: post(system, to_ninjs(record))
        for docno, record in records.items()
        if docno not in (EARLIER, LATER)
    }
    later = post(system, to_ninjs(records[LATER]))
    before = eventually(lambda: page(system, later), timeout_s=60)
    earlier = post(system, to_ninjs(records[EARLIER]))
    assert earlier not in see_also_ids(before) + related_ids(before)

    def refresh() -> EnrichedEvent | None:
        """The refresh of the later article that the earlier one's arrival caused."""
        events = enriched_events(system)
        own = [e for e in events if e.article_id == earlier and e.type == "article.enriched"]
        return next(
            (
                e
                for e in events
                if own
                and e.type == "article.related_refreshed"
                and e.article_id == later
                and e.correlation_id == own[0].correlation_id
            ),
            None,
        )

    refreshed = eventually(refresh, timeout_s=60)
    assert refreshed.enriched is not None
    links = [link.article_id for link in refreshed.enriched.related]
    assert earlier in links[:4], "enrich put the earlier telling in the later one's top four"
    assert len(links) > 4 and set(links) <= {*ids.values(), earlier}

    def shown() -> str | None:
        html = page(system, later)
        return html if html and see_also_ids(html) == links[:4] else None

    html = eventually(shown, timeout_s=30)
    assert see_also_ids(html) == links[:4]
    assert related_ids(html) == links[4:8]
    assert later not in see_also_ids(html) + related_ids(html)
