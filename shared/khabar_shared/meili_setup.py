"""The operator's one-shot Meilisearch setup for a deployment (compose's `setup` service).

From the master key it creates (or finds again: fixed uids) the search
service's indexing key and its search-only key, and writes each to a file
named like its variable in `KHABAR_SECRETS_DIR`. The search service reads
that directory (see `settings.secrets_dir`), so it never sees the master key.
`make run`, the tests and the benchmarks create the same keys with
`provision_keys`. Fixed uids mean running it again returns the same keys
instead of piling up new ones.
"""

import sys
import time

import httpx
from pydantic import BaseModel

from khabar_shared.logging import configure_logging, get_logger
from khabar_shared.settings import SetupSettings

log = get_logger(__name__)

INDEX_KEY_UID = "6c3c5a8e-7a8b-4f5e-9d0c-1a2b3c4d5e01"
SEARCH_KEY_UID = "6c3c5a8e-7a8b-4f5e-9d0c-1a2b3c4d5e02"
INDEXING_ACTIONS = [
    "documents.add",
    "documents.get",
    "documents.delete",
    "indexes.create",
    "indexes.get",
    "indexes.update",
    "indexes.delete",
    "indexes.swap",
    "settings.get",
    "settings.update",
    "tasks.get",
    "search",
    "stats.get",
]
# The variables this setup provides, one file each.
KEY_FILES = ("KHABAR_MEILI_INDEX_KEY", "KHABAR_MEILI_SEARCH_KEY")


class MeiliKeys(BaseModel):
    """The search service's keys: one to index `<index>*`, one that can only search."""

    index_key: str
    search_key: str


def ensure_key(
    client: httpx.Client, uid: str, name: str, actions: list[str], index_pattern: str
) -> str:
    found = client.get(f"/keys/{uid}")
    if found.status_code == 200:
        return str(found.json()["key"])
    created = client.post(
        "/keys",
        json={
            "uid": uid,
            "name": name,
            "description": f"khabar: {name}",
            "actions": actions,
            "indexes": [index_pattern],
            "expiresAt": None,
        },
    )
    created.raise_for_status()
    return str(created.json()["key"])


def create_keys(client: httpx.Client, index_pattern: str) -> MeiliKeys:
    """Both keys, created or found again, through a client holding the master key."""
    return MeiliKeys(
        index_key=ensure_key(
            client, INDEX_KEY_UID, "search-indexer", INDEXING_ACTIONS, index_pattern
        ),
        search_key=ensure_key(client, SEARCH_KEY_UID, "search-readers", ["search"], index_pattern),
    )


def master_client(meili_url: str, master_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=meili_url, headers={"Authorization": f"Bearer {master_key}"}, timeout=10.0
    )


def provision_keys(meili_url: str, master_key: str, index_pattern: str = "articles*") -> MeiliKeys:
    """Both keys of a Meilisearch that already answers (`make run`, tests, benchmarks)."""
    with master_client(meili_url, master_key) as client:
        return create_keys(client, index_pattern)


def wait_for_meili(client: httpx.Client, max_wait_s: float = 120.0) -> None:
    deadline = time.monotonic() + max_wait_s
    while True:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Meilisearch did not answer within {max_wait_s:.0f}s")
        time.sleep(1.0)


def provision(settings: SetupSettings) -> dict[str, str]:
    """Create both keys and write their files; returns variable name → key."""
    with master_client(settings.meili_url, settings.meili_master_key.get_secret_value()) as client:
        wait_for_meili(client)
        created = create_keys(client, f"{settings.meili_index}*")
    keys = {
        "KHABAR_MEILI_INDEX_KEY": created.index_key,
        "KHABAR_MEILI_SEARCH_KEY": created.search_key,
    }
    settings.secrets_dir.mkdir(parents=True, exist_ok=True)
    for name, value in keys.items():
        path = settings.secrets_dir / name
        path.write_text(value)
        path.chmod(0o640)
    return keys


def main() -> None:
    configure_logging("setup")
    settings = SetupSettings()
    if not settings.meili_master_key.get_secret_value():
        log.error("meili_master_key_missing", hint="set KHABAR_MEILI_MASTER_KEY in .env")
        sys.exit(2)
    keys = provision(settings)
    log.info("meili_keys_ready", files=sorted(keys), directory=str(settings.secrets_dir))


if __name__ == "__main__":
    main()
