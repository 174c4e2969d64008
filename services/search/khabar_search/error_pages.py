"""Readers' error pages for `/search`: 400, 429 and 503 as pages of the site, not JSON.

A reader's browser on the search page gets the site's chrome around a short
message in the page's language and direction, naming the parameters at fault
for a 400. `/v1/search`, and clients on `/search` whose `Accept` names JSON and
not HTML, keep the RFC 9457 problem document exactly as before.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from khabar_search.messages import reader_errors
from khabar_shared.ops_http import validation_problem
from khabar_shared.problems import PROBLEM_JSON, Problem, ProblemError
from khabar_shared.text import detect_language

# The pages readers open; everything else on this service is an API or a file.
PAGE_PATHS = frozenset({"/search"})
# A reader retrying a search page sooner than this would meet the same outage.
UNAVAILABLE_RETRY_AFTER = "5"

ENVIRONMENT = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def header(headers: Any, name: bytes) -> str:
    """One request header from an ASGI scope's list, decoded; empty when absent."""
    return next((v.decode("latin-1") for k, v in headers if k.lower() == name), "")


def wants_page(path: str, accept: str) -> bool:
    """The search page, asked for by anyone but a program that asks for JSON only."""
    if path not in PAGE_PATHS:
        return False
    accept = accept.lower()
    return "text/html" in accept or "json" not in accept


class ErrorPages:
    """Answers one problem: as the site's page for readers, as the document for programs."""

    def __init__(
        self, site_language: str, site_names: Mapping[str, str], site_url: str, max_q: int
    ) -> None:
        self.site_language = site_language
        self.site_names = site_names
        self.site_url = site_url
        self.max_q = max_q

    def answer(
        self,
        scope: Mapping[str, Any],
        problem: Problem,
        headers: dict[str, str] | None = None,
        validation: Sequence[Mapping[str, Any]] | None = None,
    ) -> Response:
        """`validation`: FastAPI's errors behind `problem`, so the page can word them itself."""
        headers = dict(headers or {})
        if scope["path"] in PAGE_PATHS:
            headers["Vary"] = "Accept"  # one address, a page or a document by `Accept`
        if not wants_page(scope["path"], header(scope["headers"], b"accept")):
            return JSONResponse(
                problem.body(),
                status_code=problem.status,
                media_type=PROBLEM_JSON,
                headers=headers or None,
            )
        if problem.status == 503:
            headers.setdefault("Retry-After", UNAVAILABLE_RETRY_AFTER)
        headers["Cache-Control"] = "no-store"
        edge = "ESI/1.0" in header(scope["headers"], b"surrogate-capability")
        if edge:
            headers["Surrogate-Control"] = 'content="ESI/1.0"'
        return HTMLResponse(
            self.render(problem, scope.get("query_string", b""), edge, validation),
            status_code=problem.status,
            headers=headers,
        )

    def render(
        self,
        problem: Problem,
        query_string: bytes,
        edge: bool,
        validation: Sequence[Mapping[str, Any]] | None = None,
    ) -> str:
        query = parse_qs(query_string.decode("utf-8", "replace"))
        q = " ".join((query.get("q") or [""])[0].split())[: self.max_q]
        # As the search page decides: the query's language, else the site's.
        lang = detect_language(q) if q else self.site_language
        lang = "ar" if lang == "ar" else "en"
        return ENVIRONMENT.get_template("error.html").render(
            status=problem.status,
            errors=reader_errors(problem.errors or [], validation, lang),
            q=q,
            lang=lang,
            rtl=lang == "ar",
            edge=edge,
            site_name=self.site_names[lang],
            site_url=self.site_url,
        )

    def install(self, app: FastAPI) -> None:
        """Take over the problem handlers `install_problem_handlers` set (same documents)."""

        @app.exception_handler(ProblemError)
        async def on_problem(request: Request, error: ProblemError) -> Response:
            return self.answer(request.scope, error.problem)

        @app.exception_handler(RequestValidationError)
        async def on_invalid(request: Request, error: RequestValidationError) -> Response:
            found = error.errors()
            return self.answer(request.scope, validation_problem(found), validation=found)
