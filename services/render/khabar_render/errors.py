"""Readers' error pages: 404, 410 and 503 as pages of the site, not problem documents.

A browser asking for a page (`Accept: text/html`, a page's path) gets the
site's chrome around a short message in the page's language and direction;
API clients and the fragment routes keep RFC 9457 problem documents.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import StarletteHTTPException as HTTPException
from fastapi.responses import HTMLResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from khabar_render.fragments import ENVIRONMENT, PageMeta, render_page
from khabar_render.site import Site, direction_of
from khabar_render.store import CacheUnavailable
from khabar_shared.problems import PROBLEM_JSON, Problem, ProblemError

READER_STATUSES = frozenset({404, 410, 503})
# Routes whose answers are parts of pages or data, never a page a reader opens.
NOT_PAGES = ("/fragments/", "/v1/", "/static/")


def wants_page(request: Request) -> bool:
    """A reader's browser asking for a page, rather than a program asking for data."""
    if request.url.path.startswith(NOT_PAGES):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept


def error_page(status: int, lang: str, site: Site, path: str) -> str:
    body = (
        ENVIRONMENT.get_template("error.html")
        .render(status=status, lang=lang, dir=direction_of(lang), site=site)
        .strip()
    )
    title = site.label(f"error_{status}_title", lang)
    return render_page(
        title, [body], lang, direction_of(lang), site.absolute(path), PageMeta(), site
    )


def error_response(
    status: int, lang: str, site: Site, request: Request, surrogate_keys: list[str]
) -> HTMLResponse:
    headers = {
        # Short: a republished article or a new section is found again soon,
        # and the edge drops it at once by the key.
        "Cache-Control": "public, max-age=5",
        "Vary": "Accept, Accept-Encoding, Surrogate-Capability",
    }
    if surrogate_keys:
        headers["Surrogate-Key"] = " ".join(surrogate_keys)
    if status == 503:
        headers["Retry-After"] = "5"
        headers["Cache-Control"] = "no-store"
    return HTMLResponse(
        error_page(status, lang, site, request.url.path), status_code=status, headers=headers
    )


class PageProblem(ProblemError):
    """A problem about a page: the language to say it in and the keys that would lift it."""

    def __init__(
        self, problem: Problem, lang: str = "", surrogate_keys: list[str] | None = None
    ) -> None:
        super().__init__(problem)
        self.lang = lang
        self.surrogate_keys = surrogate_keys or []


def page_problem(
    status: int, title: str, detail: str, lang: str = "", surrogate_keys: list[str] | None = None
) -> PageProblem:
    return PageProblem(Problem(status=status, title=title, detail=detail), lang, surrogate_keys)


def install_reader_error_pages(app: FastAPI, site: Site) -> None:
    """Answer readers' 404/410/503 with pages; everyone else keeps the problem document."""

    def answer(
        request: Request, problem: Problem, lang: str = "", keys: list[str] | None = None
    ) -> Response:
        keys = keys or []
        if problem.status in READER_STATUSES and wants_page(request):
            return error_response(problem.status, lang or site.language, site, request, keys)
        headers = {"Vary": "Accept, Accept-Encoding"}
        if keys:
            headers["Surrogate-Key"] = " ".join(keys)
        if problem.status == 503:
            headers["Retry-After"] = "5"
        return Response(
            problem.model_dump_json(exclude_none=True),
            status_code=problem.status,
            media_type=PROBLEM_JSON,
            headers=headers,
        )

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, error: ProblemError) -> Response:
        return answer(
            request, error.problem, getattr(error, "lang", ""), getattr(error, "surrogate_keys", [])
        )

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> Response:
        # Routes nobody declared (and wrong methods) in the same shapes.
        return answer(request, Problem(status=error.status_code, title=str(error.detail)))

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    @app.exception_handler(CacheUnavailable)
    async def on_redis_down(request: Request, error: Exception) -> Response:
        # The store that is down, by name: the page cache's Redis, or the article store's.
        store = (
            "The page cache (the cache Redis)"
            if isinstance(error, CacheUnavailable)
            else "The article store (the log Redis)"
        )
        return answer(
            request,
            Problem(
                status=503,
                title="Service Unavailable",
                detail=f"{store} is unavailable; try again.",
            ),
        )
