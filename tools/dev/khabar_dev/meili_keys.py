"""The operator's Meilisearch setup: an indexing key and a search-only key.

Keys are created with fixed uids, so running the setup again returns the same
keys instead of piling up new ones. Only this setup ever uses the master key.
"""

import httpx
from pydantic import BaseModel

INDEX_KEY_UID = "6c3c5a8e-7a8b-4f5e-9d0c-1a2b3c4d5e01"
SEARCH_KEY_UID = "6c3c5a8e-7a8b-4f5e-9d0c-1a2b3c4d5e02"

INDEXING_ACTIONS = [
    "documents.add", "documents.get", "documents.delete", "indexes.create", "indexes.get",
    "indexes.update", "indexes.delete", "indexes.swap", "settings.get", "settings.update",
    "tasks.get", "search", "stats.get",
]


class MeiliKeys(BaseModel):
    index_key: str
    search_key: str


def _ensure_key(client: httpx.Client, uid: str, name: str, actions: list[str],
                indexes: list[str]) -> str:
    found = client.get(f"/keys/{uid}")
    if found.status_code == 200:
        return str(found.json()["key"])
    created = client.post("/keys", json={
        "uid": uid, "name": name, "description": f"khabar: {name}",
        "actions": actions, "indexes": indexes, "expiresAt": None,
    })
    created.raise_for_status()
    return str(created.json()["key"])


def provision_keys(meili_url: str, master_key: str, index_pattern: str = "articles*") -> MeiliKeys:
    headers = {"Authorization": f"Bearer {master_key}"}
    with httpx.Client(base_url=meili_url, headers=headers, timeout=10.0) as client:
        return MeiliKeys(
            index_key=_ensure_key(client, INDEX_KEY_UID, "search-indexer", INDEXING_ACTIONS,
                                  [index_pattern]),
            search_key=_ensure_key(client, SEARCH_KEY_UID, "search-readers", ["search"],
                                   [index_pattern]),
        )
