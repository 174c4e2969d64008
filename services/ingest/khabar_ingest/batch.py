"""`POST /v1/articles/batch`: many articles, one answer per item.

Items are independent: a bad item is refused with its own problem and the
others go on. Valid items are accepted together by `ArticleStore.accept_many`,
which reads them as they are parsed: Redis accepts the first few dozen while
ingest parses the next.

An item is a ninjs document, or an envelope carrying what a single POST
says in headers: `{"article": {...ninjs...}, "base_version": 3,
"idempotency_key": "..."}` (both optional). A stale `base_version` refuses
that item with 409 and the current version; 0 means the article must be new.
Re-sending a batch is safe either way: an item whose content is unchanged is
answered "unchanged" and appends nothing; an item whose `versioncreated` is
older than the stored version's is refused with 409 (`/versioncreated`) and
changes nothing, unless its `base_version` names the current version.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Literal, get_args

import orjson
from pydantic import BaseModel, Field

from khabar_ingest.formats.checks import has_line_controls
from khabar_ingest.formats.errors import FieldError, pointer
from khabar_ingest.formats.ninjs import FieldCleaned, InvalidArticle, Limits, read_ninjs
from khabar_ingest.problems import (
    ProblemDetails,
    conflict,
    idempotency_key_reused,
    invalid_article,
    invalid_batch,
    older_than_stored,
)
from khabar_ingest.store import (
    ArticleStore,
    Change,
    IdempotencyMismatch,
    Outcome,
    StaleCopy,
    StoreResult,
    VersionConflict,
)

ItemOutcome = Literal["accepted", "embargoed", "unchanged", "rejected"]
ITEM_OUTCOMES: tuple[ItemOutcome, ...] = get_args(ItemOutcome)
ENVELOPE_FIELDS = ("article", "base_version", "idempotency_key")
MAX_IDEMPOTENCY_KEY_CHARS = 200  # also the Idempotency-Key header's limit
BASE_VERSION_LIMIT = 10**12  # base_version is below it (If-Match: at most 12 digits)


class BatchItem(BaseModel):
    index: int = Field(description="Position of the item in the batch.")
    outcome: ItemOutcome
    status: int = Field(description="The HTTP status this item would have got on its own.")
    article_id: str | None = None
    version: int | None = None
    event_id: str | None = None
    problem: dict[str, Any] | None = Field(default=None, description="RFC 9457 problem.")
    cleaned: list[FieldCleaned] | None = Field(
        default=None,
        description="Careless text ingest cleaned in the item (a tab in the "
        "headline, a stray control character), by JSON pointer; null when nothing was.",
    )
    time_zone_applied: str | None = Field(
        default=None,
        description="The time zone the item's times without an offset were read in; null "
        "when every time had one.",
    )
    fields_read_in_time_zone: list[str] | None = Field(
        default=None, description="The item's fields read in that zone, e.g. versioncreated."
    )


class BatchAnswer(BaseModel):
    """The answer's schema (OpenAPI). `BatchReply` writes it without validating its own items."""

    accepted: int = 0
    embargoed: int = 0
    unchanged: int = 0
    rejected: int = 0
    items: list[BatchItem] = Field(default_factory=list)


@dataclass(slots=True)
class BatchReply:
    """A batch's answer as `BatchAnswer` writes it, made from plain values.

    Ingest's own 200 answers are not validated against the model again on
    their way out; each item here has every BatchItem field, in its order (a
    unit test holds the two equal).
    """

    counts: dict[ItemOutcome, int]
    items: list[dict[str, Any]]

    def json(self) -> bytes:
        return orjson.dumps({**self.counts, "items": self.items})


def batch_documents(document: Any, max_items: int, path: str) -> list[Any]:
    """The items of a batch body: a JSON array, or an object with an `items` array."""
    where = ""
    if isinstance(document, dict) and "items" in document:
        document, where = document["items"], "/items"
    if not isinstance(document, list):
        raise invalid_batch(
            'send a JSON array of articles or {"items": [...]}', where, path
        ).error()
    if not document:
        raise invalid_batch("the batch is empty", where, path).error()
    if len(document) > max_items:
        raise invalid_batch(
            f"{len(document)} items; at most {max_items} per batch", where, path
        ).error()
    return document


async def run_batch(
    store: ArticleStore,
    items: list[Any],
    key_name: str,
    correlation_id: str,
    limits: Limits,
    unicode_checked: bool = False,
    naive_zone: tzinfo | None = None,
) -> BatchReply:
    answers: list[dict[str, Any]] = []
    changes: list[tuple[int, Change, list[FieldCleaned], list[str]]] = []

    def parsed() -> Iterator[Change]:
        # Lazy, so the store sends each script call before the next items are parsed.
        for index, document in enumerate(items):
            try:
                change, cleaned, zoned = read_item(
                    document, key_name, correlation_id, limits, unicode_checked, naive_zone
                )
            except InvalidArticle as invalid:
                answers.append(rejected(index, invalid_article(invalid, f"#/{index}")))
                continue
            changes.append((index, change, cleaned, zoned))
            yield change

    outcomes = await store.accept_many(parsed())
    for (index, change, cleaned, zoned), outcome in zip(changes, outcomes, strict=True):
        answer = item_answer(index, change, outcome)
        if answer["outcome"] != "rejected":
            add_notes(answer, cleaned, zoned, naive_zone)
        answers.append(answer)
    return reply_of(answers)


def add_notes(
    answer: dict[str, Any], cleaned: list[FieldCleaned], zoned: list[str], zone: tzinfo | None
) -> None:
    """What an accepted item's answer says beside its outcome: cleanings, the zone applied."""
    if cleaned:
        answer["cleaned"] = [item.model_dump() for item in cleaned]
    if zoned and zone is not None:
        answer["time_zone_applied"] = str(zone)
        answer["fields_read_in_time_zone"] = sorted(zoned)


def reply_of(answers: list[dict[str, Any]]) -> BatchReply:
    """The answer of every item, in their order, with the counts of each outcome."""
    answers.sort(key=lambda item: item["index"])
    counts: dict[ItemOutcome, int] = dict.fromkeys(ITEM_OUTCOMES, 0)
    for item in answers:
        counts[item["outcome"]] += 1
    return BatchReply(counts, answers)


def is_envelope(document: Any) -> bool:
    """An item wrapping its article with options, rather than a ninjs document itself."""
    return type(document) is dict and "article" in document and "uri" not in document


def read_item(
    document: Any,
    key_name: str,
    correlation_id: str,
    limits: Limits,
    unicode_checked: bool,
    naive_zone: tzinfo | None = None,
) -> tuple[Change, list[FieldCleaned], list[str]]:
    """One item's change, what was cleaned in it and the fields read in `naive_zone`;
    InvalidArticle naming every bad field (an envelope's article's fields under `/article`)."""
    if not is_envelope(document):
        reading = read_ninjs(
            document, limits=limits, unicode_checked=unicode_checked, naive_zone=naive_zone
        )
        return (
            Change(article=reading.article, submitted_by=key_name, correlation_id=correlation_id),
            reading.cleaned,
            reading.zoned_fields,
        )
    errors = envelope_errors(document)
    try:
        reading = read_ninjs(
            document["article"],
            limits=limits,
            unicode_checked=unicode_checked,
            naive_zone=naive_zone,
        )
        article, cleaned, zoned = reading.article, reading.cleaned, reading.zoned_fields
    except InvalidArticle as invalid:
        errors += [
            FieldError(pointer="/article" + error.pointer, message=error.message)
            for error in invalid.errors
        ]
    if errors:
        raise InvalidArticle(errors)
    cleaned = [
        FieldCleaned(pointer="/article" + item.pointer, detail=item.detail) for item in cleaned
    ]
    return (
        Change(
            article=article,
            submitted_by=key_name,
            correlation_id=correlation_id,
            base_version=document.get("base_version"),
            idempotency=document.get("idempotency_key"),
        ),
        cleaned,
        zoned,
    )


def envelope_errors(envelope: dict[str, Any]) -> list[FieldError]:
    errors = [
        FieldError(pointer=pointer(name), message="is not an item field: an item is a ninjs "
                   "document or {article, base_version, idempotency_key}")
        for name in envelope if name not in ENVELOPE_FIELDS
    ]  # fmt: skip
    version = envelope.get("base_version")
    if version is not None and (type(version) is not int or not 0 <= version < BASE_VERSION_LIMIT):
        errors.append(
            FieldError(
                pointer="/base_version",
                message=(
                    "must be a whole number: the version this change is based on (0: a new article)"
                ),
            )
        )
    key = envelope.get("idempotency_key")
    if key is not None and (
        type(key) is not str
        or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS
        or has_line_controls(key)
    ):
        errors.append(
            FieldError(
                pointer="/idempotency_key",
                message=(
                    f"must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters, "
                    "without control characters"
                ),
            )
        )
    return errors


def rejected(index: int, problem: ProblemDetails, article_id: str | None = None) -> dict[str, Any]:
    return {
        "index": index,
        "outcome": "rejected",
        "status": problem.status,
        "article_id": article_id,
        "version": None,
        "event_id": None,
        "problem": problem.body(),
        "cleaned": None,
        "time_zone_applied": None,
        "fields_read_in_time_zone": None,
    }


def item_answer(index: int, change: Change, outcome: Outcome) -> dict[str, Any]:
    """A BatchItem's fields for one change's outcome."""
    if isinstance(outcome, StoreResult):
        kind: ItemOutcome = (
            "unchanged" if outcome.replayed
            else "embargoed" if outcome.status == "embargoed" else "accepted"
        )  # fmt: skip
        return {
            "index": index,
            "outcome": kind,
            "status": 202,
            "article_id": outcome.article_id,
            "version": outcome.version,
            "event_id": outcome.event_id,
            "problem": None,
            "cleaned": None,
            "time_zone_applied": None,
            "fields_read_in_time_zone": None,
        }
    instance = f"#/{index}"
    if isinstance(outcome, VersionConflict):
        problem = conflict(
            change.article.id, f"base_version is {change.base_version}, not the latest.",
            current_version=outcome.current_version, instance=instance, pointer="/base_version",
        )  # fmt: skip
    elif isinstance(outcome, StaleCopy):
        problem = older_than_stored(
            change.article.id, outcome.sent, outcome.stored, outcome.current_version,
            f'"base_version": {outcome.current_version}', instance,
        )  # fmt: skip
    else:
        assert isinstance(outcome, IdempotencyMismatch)
        problem = idempotency_key_reused(outcome.key, instance, pointer="/idempotency_key")
    return rejected(index, problem, change.article.id)
