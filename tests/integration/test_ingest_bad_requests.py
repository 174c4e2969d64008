"""Bad HTTP requests through a real ingest process: each gets its status and names its field.

`names` is a JSON Pointer (or `header:<Name>`) that must be among the
problem's `errors`, or else text the problem's `detail` must contain.
"""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from khabar_ingest.auth import API_KEYS_HASH, ApiKey, digest
from tests.conftest import Servers
from tests.integration.ingest_fixtures import IngestProcess, ingest_process
from tests.support import DROP, real_articles, to_ninjs, with_changes

READ_KEY = "read-only-key-for-the-bad-requests-table"
GOOD: dict[str, Any] = to_ninjs(real_articles(1)[0])
EXISTING = {**GOOD, "uri": GOOD["uri"] + "-existing"}
JSON = {"Content-Type": "application/json"}


def doc(**changes: Any) -> dict[str, Any]:
    return with_changes(GOOD, **changes)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


# (name, method, path, extra headers (None = no Authorization), body, status, names)
Case = tuple[str, str, str, dict[str, str] | None, Any, int, str]
CASES: list[Case] = [
    # ---- keys
    ("no key", "POST", "/v1/articles", None, GOOD, 401, "Authorization"),
    ("unknown key", "POST", "/v1/articles", {"Authorization": "Bearer not-a-key"}, GOOD, 401,
     "Authorization"),
    ("basic auth instead of bearer", "POST", "/v1/articles",
     {"Authorization": "Basic dXNlcjpwYXNz"}, GOOD, 401, "Authorization"),
    ("bearer without a key", "POST", "/v1/articles", {"Authorization": "Bearer"}, GOOD, 401,
     "Authorization"),
    ("no key on GET", "GET", "/v1/articles/anything", None, None, 401, "Authorization"),
    ("no key on batch", "POST", "/v1/articles/batch", None, [GOOD], 401, "Authorization"),
    ("read key posts", "POST", "/v1/articles", {"Authorization": f"Bearer {READ_KEY}"}, GOOD, 403,
     "'reader'"),
    ("read key withdraws", "DELETE", "/v1/articles/x", {"Authorization": f"Bearer {READ_KEY}"},
     None, 403, "'reader'"),
    ("read key posts a batch", "POST", "/v1/articles/batch",
     {"Authorization": f"Bearer {READ_KEY}"}, [GOOD], 403, "'reader'"),
    # ---- unknown articles
    ("unknown article", "GET", "/v1/articles/no-such-article-1", {}, None, 404,
     "no-such-article-1"),
    ("unknown history", "GET", "/v1/articles/no-such-article-2/history", {}, None, 404,
     "no-such-article-2"),
    ("withdraw unknown", "DELETE", "/v1/articles/no-such-article-3", {}, None, 404,
     "no-such-article-3"),
    # ---- media type and size
    ("text/plain", "POST", "/v1/articles", {"Content-Type": "text/plain"},
     json.dumps(GOOD).encode(), 415, "header:Content-Type"),
    ("no content type", "POST", "/v1/articles", {"Content-Type": ""}, json.dumps(GOOD).encode(),
     415, "header:Content-Type"),
    ("form encoded", "POST", "/v1/articles", {"Content-Type": "application/x-www-form-urlencoded"},
     b"uri=a", 415, "header:Content-Type"),
    ("xml to the batch", "POST", "/v1/articles/batch", {"Content-Type": "application/xml"}, b"<a/>",
     415, "header:Content-Type"),
    ("body over the limit", "POST", "/v1/articles", JSON,
     doc(body_html="<p>" + "كلمة " * 30_000 + "</p>"), 413, "limit of 100000 bytes"),
    ("batch over the limit", "POST", "/v1/articles/batch", JSON,
     [doc(body_html="<p>" + "x " * 60_000 + "</p>")] * 2, 413, "limit of 200000 bytes"),
    # ---- not JSON at all
    ("invalid utf-8", "POST", "/v1/articles", JSON, b'{"headline": "\xff\xfe"}', 400, "byte"),
    ("latin-1 body", "POST", "/v1/articles", JSON, '{"headline": "café"}'.encode("latin-1"), 400,
     "byte"),
    ("not json", "POST", "/v1/articles", JSON, b"{headline: nope}", 400, "not JSON"),
    ("truncated json", "POST", "/v1/articles", JSON, b'{"uri": "a-1", "headline": "x"', 400,
     "not JSON"),
    ("empty body", "POST", "/v1/articles", JSON, b"", 400, "not JSON"),
    ("NaN", "POST", "/v1/articles", JSON, b'{"uri": "a", "urgency": NaN}', 400, "NaN"),
    ("absurd integer", "POST", "/v1/articles", JSON, b'{"urgency": ' + b"9" * 5000 + b"}", 400,
     "not JSON"),
    ("batch not json", "POST", "/v1/articles/batch", JSON, b"[{]", 400, "not JSON"),
    # ---- headers
    ("If-Match not a number", "POST", "/v1/articles", {"If-Match": '"abc"'}, GOOD, 400,
     "header:If-Match"),
    ("If-Match negative", "POST", "/v1/articles", {"If-Match": "-1"}, GOOD, 400, "header:If-Match"),
    ("stale If-Match", "POST", "/v1/articles", {"If-Match": '"7"'}, {**EXISTING, "headline": "new"},
     409, "header:If-Match"),
    ("If-Match * and no such article", "POST", "/v1/articles", {"If-Match": "*"},
     doc(uri=GOOD["uri"] + "-never-sent"), 412, "header:If-Match"),
    ("stale If-Match on withdraw", "DELETE", "/v1/articles/{existing}", {"If-Match": '"0"'}, None,
     409, "header:If-Match"),
    ("Idempotency-Key reused for other content", "POST", "/v1/articles",
     {"Idempotency-Key": "first-key"}, {**EXISTING, "headline": "other"}, 422,
     "header:Idempotency-Key"),
    # ---- fields
    ("a JSON list to /v1/articles", "POST", "/v1/articles", JSON, [GOOD], 422, ""),
    ("a JSON string", "POST", "/v1/articles", JSON, "just a string", 422, ""),
    ("missing uri", "POST", "/v1/articles", JSON, doc(uri=DROP), 422, "/uri"),
    ("uri a number", "POST", "/v1/articles", JSON, doc(uri=42), 422, "/uri"),
    ("uri with spaces", "POST", "/v1/articles", JSON, doc(uri="my article"), 422, "/uri"),
    ("missing headline", "POST", "/v1/articles", JSON, doc(headline=DROP), 422, "/headline"),
    ("empty headline", "POST", "/v1/articles", JSON, doc(headline="  "), 422, "/headline"),
    ("headline a list", "POST", "/v1/articles", JSON, doc(headline=["a"]), 422, "/headline"),
    ("headline too long", "POST", "/v1/articles", JSON, doc(headline="خبر " * 200), 422,
     "/headline"),
    ("missing body", "POST", "/v1/articles", JSON, doc(body_html=DROP), 422, "/body_html"),
    ("body a number", "POST", "/v1/articles", JSON, doc(body_html=7), 422, "/body_html"),
    ("unknown language", "POST", "/v1/articles", JSON, doc(language="xx"), 422, "/language"),
    ("language not a tag", "POST", "/v1/articles", JSON, doc(language="arabic"), 422, "/language"),
    ("unparseable versioncreated", "POST", "/v1/articles", JSON, doc(versioncreated="yesterday"),
     422, "/versioncreated"),
    ("versioncreated not a date-time", "POST", "/v1/articles", JSON,
     doc(versioncreated="01/01/2018 10:00"), 422, "/versioncreated"),
    ("unparseable embargoed", "POST", "/v1/articles", JSON, doc(embargoed="soon"), 422,
     "/embargoed"),
    ("unknown pubstatus", "POST", "/v1/articles", JSON, doc(pubstatus="live"), 422, "/pubstatus"),
    ("urgency out of range", "POST", "/v1/articles", JSON, doc(urgency=12), 422, "/urgency"),
    ("subject not a list", "POST", "/v1/articles", JSON, doc(subject="sport"), 422, "/subject"),
    ("subject without a name", "POST", "/v1/articles", JSON, doc(subject=[{}]), 422,
     "/subject/0/name"),
    ("unknown category", "POST", "/v1/articles", JSON, doc(category="***"), 422, "/category"),
    ("url not http", "POST", "/v1/articles", JSON, doc(url="javascript:alert(1)"), 422, "/url"),
    ("picture item", "POST", "/v1/articles", JSON, doc(type="picture"), 422, "/type"),
    ("rendition href not a URL", "POST", "/v1/articles", JSON,
     doc(associations={"featuremedia": {"renditions": {"original": {"href": "x"}}}}), 422,
     "/associations/featuremedia/renditions/original/href"),
    ("lone surrogate", "POST", "/v1/articles", JSON, b'{"uri": "a-1", "headline": "x\\ud800"}', 422,
     "/headline"),
    ("nested too deep", "POST", "/v1/articles", JSON, doc(extra_field=nested(40)), 422,
     "/extra_field" + "/0" * 32),
    # ---- batches
    ("empty batch", "POST", "/v1/articles/batch", JSON, [], 422, ""),
    ("batch an object without items", "POST", "/v1/articles/batch", JSON, {"articles": [GOOD]}, 422,
     ""),
    ("items not a list", "POST", "/v1/articles/batch", JSON, {"items": GOOD}, 422, "/items"),
    ("too many items", "POST", "/v1/articles/batch", JSON, [GOOD] * 6, 422, ""),
    # ---- routes
    ("unknown route", "GET", "/v1/nothing-here", {}, None, 404, ""),
    ("wrong method", "PUT", "/v1/articles", {}, GOOD, 405, ""),
]  # fmt: skip


@pytest.fixture(scope="module")
def ingest(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    process = ingest_process(
        servers,
        tmp_path_factory.mktemp("ingest-bad"),
        max_body_bytes=100_000,
        max_batch_bytes=200_000,
        max_batch_items=5,
    )
    with process.redis() as client:
        client.hset(
            API_KEYS_HASH, digest(READ_KEY), ApiKey(name="reader", scope="read").model_dump_json()
        )
    with process.client() as client:
        assert (
            client.post(
                "/v1/articles", json=EXISTING, headers={"Idempotency-Key": "first-key"}
            ).status_code
            == 202
        )
    try:
        yield process
    finally:
        process.group.stop_all()


def send(ingest: IngestProcess, case: Case, existing_id: str) -> httpx.Response:
    _, method, path, headers, body, _, _ = case
    key = "" if headers is None or "Authorization" in headers else ingest.key
    with ingest.client(key) as client:
        request_headers = dict(headers or {})
        if isinstance(body, bytes):
            content = body
        elif body is None:
            content = None
        else:
            content = json.dumps(body, ensure_ascii=False).encode()
            request_headers.setdefault("Content-Type", "application/json")
        return client.request(
            method, path.format(existing=existing_id), content=content, headers=request_headers
        )


@pytest.fixture(scope="module")
def existing_id(ingest: IngestProcess) -> str:
    with ingest.client() as client:
        answer = client.post("/v1/articles", json=EXISTING)
    assert answer.headers["Idempotent-Replayed"] == "true"
    return answer.json()["article_id"]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_request_gets_a_problem_naming_its_field(
    ingest: IngestProcess, existing_id: str, case: Case
) -> None:
    name, _, _, _, _, status, names = case
    before = ingest.stream_length()
    answer = send(ingest, case, existing_id)
    assert answer.status_code == status, f"{name}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == status and problem["title"]
    pointers = [error["pointer"] for error in problem.get("errors", [])]
    if names.startswith(("/", "header:")):
        assert names in pointers, f"{name}: expected {names!r} among {pointers}"
    else:
        assert names in problem.get("detail", ""), f"{name}: {names!r} not in {problem}"
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    if status == 409:
        assert problem["current_version"] == 1
    assert ingest.stream_length() == before, f"{name} appended an event"


def test_if_match_any_accepts_a_change_to_any_current_version(ingest: IngestProcess) -> None:
    """RFC 9110: `If-Match: *` holds when a current representation exists, whatever its
    version; the 412 when none exists is in the table above."""
    article = doc(uri=GOOD["uri"] + "-if-match-any")
    with ingest.client() as client:
        first = client.post("/v1/articles", json=article)
        assert first.status_code == 202, first.text
        changed = client.post(
            "/v1/articles", json={**article, "headline": "تحديث"}, headers={"If-Match": "*"}
        )
        assert changed.status_code == 202, changed.text
        assert changed.json()["version"] == 2
        article_id = first.json()["article_id"]
        gone = client.delete(f"/v1/articles/{article_id}", headers={"If-Match": "*"})
        assert gone.status_code == 202, gone.text
        assert gone.json()["version"] == 3
        unknown = client.delete("/v1/articles/no-such-article-4", headers={"If-Match": "*"})
        assert unknown.status_code == 404  # RFC 9110 13.2.1: no 2xx without it, so no 412


async def test_redis_down_gets_503_with_retry_after() -> None:
    from khabar_dev.processes import free_port
    from khabar_ingest.app import create_app
    from khabar_ingest.settings import IngestSettings

    # Nothing listens on this port: every Redis call fails to connect.
    app = create_app(
        IngestSettings(
            redis_url=f"redis://127.0.0.1:{free_port()}/0", bootstrap_ingest_key=READ_KEY
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://ingest",
        headers={"Authorization": f"Bearer {READ_KEY}"},
    ) as client:
        answer = await client.post("/v1/articles", json=GOOD)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert answer.json()["type"].endswith("service-unavailable")
