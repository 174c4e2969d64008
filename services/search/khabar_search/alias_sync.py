"""Learned aliases into the index's synonyms, whenever the alias store changes.

Each search process polls the store's version (one GET) and, when it moved,
writes the gazetteer's synonyms plus every learned alias that no operator
removed as the index's synonyms, and hands them to its readers' highlighter.
Meilisearch applies synonyms when it reads a query, so no document is
indexed again. Replicas that refresh at once write the same settings.

Every few rounds it also compares the index's synonyms with what they
should be, whatever the version says: a rebuild (`khabar reindex`) swaps in
an index made with the gazetteer's synonyms alone.
"""

import asyncio
import itertools

from khabar_search.alias_store import AliasStore
from khabar_search.aliases import Alias, synonyms
from khabar_search.meili import MeiliWriter
from khabar_search.query import SearchClient
from khabar_search.synonyms import load_synonyms
from khabar_shared.logging import get_logger

log = get_logger(__name__)
CHECK_INDEX_EVERY = 10


def merged_synonyms(learned: list[Alias]) -> dict[str, list[str]]:
    table = {word: sorted(set(spellings)) for word, spellings in load_synonyms().items()}
    for word, spellings in synonyms(learned).items():
        table[word] = sorted({*table.get(word, []), *spellings})
    return table


class AliasSync:
    def __init__(self, store: AliasStore, writer: MeiliWriter, reader: SearchClient) -> None:
        self._store = store
        self._writer = writer
        self._reader = reader
        self._applied_version = 0

    async def refresh(self, check_index: bool = False) -> bool:
        """Bring the synonyms up to the store; True when the index's changed."""
        version = await self._store.version()
        if version == self._applied_version and not check_index:
            return False
        learned = [Alias(latin=a.latin, arabic=a.arabic) for a in await self._store.learned()]
        table = merged_synonyms(learned)
        self._reader.use_synonyms(table)
        self._applied_version = version
        if await self._writer.synonyms() == table:
            return False
        await self._writer.update_synonyms(table)
        log.info("search_aliases_applied", version=version, aliases=len(learned))
        return True

    async def run(self, every_s: float) -> None:
        for round_number in itertools.count():
            try:
                await self.refresh(check_index=round_number % CHECK_INDEX_EVERY == 0)
            except Exception as error:  # noqa: BLE001 (an outage: try again next round)
                log.warning("search_aliases_refresh_failed", error=str(error))
            await asyncio.sleep(every_s)
