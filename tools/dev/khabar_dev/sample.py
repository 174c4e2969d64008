"""Loading the bundled sample through the ingest API: the same front door as newsrooms."""

import asyncio
from pathlib import Path

import httpx
from pydantic import BaseModel

from khabar_dev.ninjs_out import article_to_ninjs
from khabar_dev.processes import REPO_ROOT
from khabar_ingest.formats.corpus import iter_corpus
from khabar_shared.logging import get_logger

log = get_logger(__name__)

SAMPLE_FILES = (REPO_ROOT / "samples/articles.ar.jsonl.gz", REPO_ROOT / "samples/articles.en.jsonl.gz")


class LoadSummary(BaseModel):
    accepted: int = 0
    unchanged: int = 0
    rejected: int = 0
    first_article_id: str | None = None


async def load_sample(ingest_url: str, key: str, files: tuple[Path, ...] = SAMPLE_FILES,
                      concurrency: int = 8) -> LoadSummary:
    summary = LoadSummary()
    documents = [article_to_ninjs(a) for path in files if path.exists() for a in iter_corpus(path)]
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=ingest_url, headers=headers, timeout=30) as client:

        async def post(document: dict) -> None:
            async with gate:
                answer = await client.post("/v1/articles", json=document)
            if answer.status_code != 202:
                summary.rejected += 1
                log.warning("sample_article_rejected", status=answer.status_code, body=answer.text[:300])
                return
            replayed = answer.headers.get("Idempotent-Replayed") == "true"
            summary.unchanged += replayed
            summary.accepted += not replayed
            summary.first_article_id = summary.first_article_id or answer.json()["article_id"]

        await asyncio.gather(*(post(document) for document in documents))
    return summary
