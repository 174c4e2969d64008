"""Loading the bundled sample through the ingest API: the same front door as newsrooms."""

from pathlib import Path

import httpx
from pydantic import BaseModel

from khabar_dev.processes import REPO_ROOT
from khabar_ingest.formats.corpus import iter_corpus
from khabar_ingest.formats.writer import article_to_ninjs
from khabar_shared.logging import get_logger

log = get_logger(__name__)

SAMPLE_FILES = (
    REPO_ROOT / "samples/articles.ar.jsonl.gz",
    REPO_ROOT / "samples/articles.en.jsonl.gz",
)
BATCH_SIZE = 100


class LoadSummary(BaseModel):
    accepted: int = 0
    unchanged: int = 0
    rejected: int = 0
    first_article_id: str | None = None


async def load_sample(
    ingest_url: str, key: str, files: tuple[Path, ...] = SAMPLE_FILES
) -> LoadSummary:
    """Post every sample article through `POST /v1/articles/batch`."""
    summary = LoadSummary()
    documents = [article_to_ninjs(a) for path in files if path.exists() for a in iter_corpus(path)]
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=ingest_url, headers=headers, timeout=60) as client:
        for start in range(0, len(documents), BATCH_SIZE):
            answer = await client.post(
                "/v1/articles/batch", json=documents[start : start + BATCH_SIZE]
            )
            answer.raise_for_status()
            body = answer.json()
            summary.accepted += body["accepted"]
            summary.unchanged += body["unchanged"]
            summary.rejected += body["rejected"]
            for item in body["items"]:
                if item["outcome"] == "rejected":
                    log.warning("sample_article_rejected", problem=item.get("problem"))
                summary.first_article_id = summary.first_article_id or item.get("article_id")
    return summary
