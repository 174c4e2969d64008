"""Structured logs: one JSON object a line in production, readable in a terminal.

Context bound with `bind_event_context` (event, article and correlation ids)
rides along on every line logged while an event is handled, so one article can
be followed across services with grep.
"""

import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

SECRET_FIELD_MARKERS = ("key", "token", "password", "secret", "authorization")


def _redact_secrets(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Never let a credential reach a log line, whatever a caller binds."""
    for field in list(event_dict):
        lowered = field.lower()
        if any(marker in lowered for marker in SECRET_FIELD_MARKERS) and field not in (
            "key_name",
            "idempotency_key_seen",
        ):
            event_dict[field] = "[redacted]"
    return event_dict


def configure_logging(service: str, log_format: str = "json", level: str = "INFO") -> None:
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    _route_stdlib_logging(shared_processors, renderer, level)


def _route_stdlib_logging(
    shared_processors: list[structlog.types.Processor],
    renderer: structlog.types.Processor,
    level: str,
) -> None:
    """uvicorn and FastStream log through stdlib logging: give them the same format."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in (
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "faststream",
        "faststream.access.redis",
    ):
        named = logging.getLogger(name)
        named.handlers = []
        named.propagate = True
    # Per-message access lines from FastStream duplicate our own event logs.
    logging.getLogger("faststream.access.redis").setLevel(logging.WARNING)
    # One line per outgoing HTTP request (Meilisearch, webhooks) is noise, not events.
    logging.getLogger("httpx").setLevel(logging.WARNING)


EVENT_FIELDS = ("event_id", "article_id", "correlation_id")


@contextmanager
def event_context(event: Any) -> Iterator[None]:
    """Every line logged inside carries the event's event_id, article_id and correlation_id."""
    with structlog.contextvars.bound_contextvars(
        **{name: getattr(event, name, None) for name in EVENT_FIELDS}
    ):
        yield


def stale_entry(event: Any, known_version: int | None) -> dict[str, Any]:
    """A stale event a consumer skipped, for its batch's one `stale_events_skipped` line: its
    own ids and version, and the version already applied. (A line per event carried the
    whole batch's ids beside it, as lists: the context `event_context` binds for a batch.)"""
    return {
        "event_id": event.event_id,
        "article_id": event.article_id,
        "version": event.version,
        "known_version": known_version,
    }


def bind_event_context(fields: Mapping[str, Any]) -> None:
    structlog.contextvars.bind_contextvars(**fields)


def clear_event_context(*names: str) -> None:
    structlog.contextvars.unbind_contextvars(*names)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
