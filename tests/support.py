"""Real articles for tests: the bundled sample (or the full corpus beside the repo) as ninjs;
and the bounded waits tests poll with."""

import asyncio
import gzip
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from khabar_dev.corpus import ANT, SAMPLE_AR, corpus_file

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_AR = corpus_file(ANT)

T = TypeVar("T")


def corpus_lines(path: Path | None = None) -> Iterator[dict[str, Any]]:
    source = path or (SAMPLE_AR if SAMPLE_AR.exists() else CORPUS_AR)
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def to_ninjs(record: dict[str, Any]) -> dict[str, Any]:
    """A corpus record as the ninjs 1.x document a newsroom tool would post."""
    paragraphs = [line.strip() for line in record["text"].splitlines() if line.strip()]
    return {
        "uri": f"urn:khabar:test:{record['docno'].lower()}",
        "type": "text",
        "language": "ar",
        "pubstatus": "usable",
        "versioncreated": record["published"],
        "firstcreated": record["published"],
        "headline": record["title"],
        "description_text": record.get("abstract") or paragraphs[0],
        "body_html": "".join(f"<p>{p}</p>" for p in paragraphs),
        "subject": [{"name": record["categories"][0]}],
        "source": record["source"],
    }


def real_articles(count: int, min_words: int = 80) -> list[dict[str, Any]]:
    found = []
    for record in corpus_lines():
        if len(record["text"].split()) >= min_words and record.get("title"):
            found.append(record)
        if len(found) == count:
            break
    return found


# A value for `with_changes`: remove that field.
DROP = object()


def with_changes(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of a JSON document with some fields replaced, or removed where the value is
    DROP."""
    copy = json.loads(json.dumps(document))
    for key, value in changes.items():
        if value is DROP:
            copy.pop(key, None)
        else:
            copy[key] = value
    return copy


def eventually(
    probe: Callable[[], T | None], timeout_s: float = 20.0, interval_s: float = 0.1
) -> T:
    """Poll until `probe` returns something truthy; the bounded wait of every pipeline test."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {last!r})")


async def until(probe: Callable[[], Awaitable[Any]], timeout_s: float = 20.0) -> Any:
    """`eventually` for a coroutine probe, polled on the running event loop."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {last!r})")
