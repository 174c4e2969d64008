"""Hostile input and secrets, through the real services the harness starts.

Bodies with script payloads, huge fields, deep nesting, invalid UTF-8 and
control characters are refused (4xx) or sanitized, never a 5xx, and what is
accepted is never rendered unsafely. Then, after all that traffic: no secret
in any log, metrics page, error response, or in the environment of a service
that does not need it.
"""

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import System
from tests.support import REPO_ROOT, eventually, real_articles, to_ninjs

PAYLOADS = [
    line
    for line in (REPO_ROOT / "tests/data/xss_payloads.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
RECORDS = real_articles(len(PAYLOADS) + 10)
# Every response this module received: none may carry a secret.
RESPONSES: list[httpx.Response] = []


def post_raw(system: System, body: bytes, content_type: str = "application/json") -> httpx.Response:
    response = httpx.post(
        f"{system.ingest_url}/v1/articles",
        content=body,
        timeout=60,
        headers={"Authorization": f"Bearer {system.ingest_key}", "Content-Type": content_type},
    )
    RESPONSES.append(response)
    return response


def post(system: System, document: dict[str, Any]) -> httpx.Response:
    return post_raw(system, json.dumps(document, ensure_ascii=False).encode())


class Unsafe(HTMLParser):
    """Collects what would run in a browser: script elements, handlers, script URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "base", "meta") and tag != "meta":
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if (
                name in ("href", "src", "action", "formaction", "xlink:href", "data")
                and value
                and value.strip()
                .lower()
                .replace("\x00", "")
                .startswith(("javascript:", "vbscript:", "data:text/html"))
            ):
                self.found.append(f"{tag} {name}={value[:40]}")
            if name == "style" and value and ("expression(" in value or "url(" in value.lower()):
                self.found.append(f"{tag} style={value[:40]}")


def unsafe_parts(page: str, own_scripts: int) -> list[str]:
    parser = Unsafe()
    parser.feed(page)
    found = parser.found
    scripts = sum(1 for item in found if item == "<script>")
    return [item for item in found if item != "<script>"] + (
        [f"{scripts - own_scripts} extra <script>"] if scripts > own_scripts else []
    )


def script_count(page: str) -> int:
    parser = Unsafe()
    parser.feed(page)
    return sum(1 for item in parser.found if item == "<script>")


def fragment(system: System, article_id: str) -> httpx.Response | None:
    response = httpx.get(f"{system.render_url}/fragments/article/{article_id}", timeout=10)
    return response if response.status_code == 200 else None


@pytest.mark.slow
def test_script_payloads_are_accepted_sanitized_and_never_rendered_unsafely(system: System) -> None:
    answer = post(system, to_ninjs(RECORDS[0]))
    assert answer.status_code == 202
    clean_id = answer.json()["article_id"]
    eventually(lambda: fragment(system, clean_id), timeout_s=60)
    own_scripts = script_count(httpx.get(f"{system.render_url}/articles/{clean_id}").text)

    accepted: list[tuple[str, str]] = []
    for record, payload in zip(RECORDS[1:], PAYLOADS, strict=False):
        document = to_ninjs(record)
        document["headline"] = f"{document['headline']} {payload}"[:500]
        document["description_text"] = payload
        document["body_html"] = f"<p>{payload}</p>{document['body_html']}<div>{payload}</div>"
        response = post(system, document)
        assert response.status_code < 500, (payload, response.status_code)
        if response.status_code == 202:
            accepted.append((response.json()["article_id"], payload))
    assert len(accepted) >= len(PAYLOADS) * 0.8, "most payloads are plain text to ingest"

    for article_id, payload in accepted:
        found = eventually(lambda a=article_id: fragment(system, a), timeout_s=60)
        page = httpx.get(f"{system.render_url}/articles/{article_id}", timeout=10)
        assert page.status_code == 200
        for html_text, scripts in ((found.text, 0), (page.text, own_scripts)):
            bad = unsafe_parts(html_text, scripts)
            assert not bad, f"payload {payload!r} rendered unsafely: {bad}"


HOSTILE_BODIES: dict[str, bytes] = {
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep object nesting": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "invalid utf-8": b'{"uri": "urn:x:1", "headline": "\xff\xfe\xfa", "body_html": "<p>x</p>"}',
    "huge body": b'{"headline": "' + b"x" * 5_000_000 + b'"}',
    "not json": b"<xml>hello</xml>",
    "json scalar": b"42",
    "nul bytes": b'{"uri": "urn:x:2\x00", "headline": "a\x00b"}',
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_bodies_are_refused_with_a_problem_never_a_5xx(system: System, name: str) -> None:
    response = post_raw(system, HOSTILE_BODIES[name])
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:200])
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == response.status_code


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("headline", "x" * 200_000),
        ("headline", "عنوان\x1b[31m أحمر"),
        ("headline", "سطر\x00فارغ"),
        ("body_html", "<p>" + "نص " * 600_000 + "</p>"),
        ("uri", "urn:khabar:test:" + "a" * 5000),
        ("language", "ar\u202e"),
    ],
)
def test_hostile_fields_are_refused_or_sanitized(system: System, field: str, value: str) -> None:
    document = to_ninjs(RECORDS[-1]) | {field: value}
    response = post(system, document)
    assert response.status_code < 500, (field, response.status_code)
    if response.status_code == 202:
        article_id = response.json()["article_id"]
        shown = eventually(lambda: fragment(system, article_id), timeout_s=60)
        assert "\x00" not in shown.text and "\x1b" not in shown.text
        assert not unsafe_parts(shown.text, 0)
    else:
        problem = response.json()
        assert problem["status"] == response.status_code
        named = json.dumps(problem.get("errors", [])) + problem.get("detail", "")
        assert field in named or response.status_code == 413, problem


def test_wrong_or_missing_keys_are_refused_without_echo(system: System) -> None:
    for headers in (
        {},
        {"Authorization": f"Bearer {system.ingest_key}x"},
        {"Authorization": "Basic " + system.ingest_key},
    ):
        response = httpx.post(
            f"{system.ingest_url}/v1/articles",
            json=to_ninjs(RECORDS[0]),
            headers=headers,
            timeout=10,
        )
        RESPONSES.append(response)
        assert response.status_code == 401


def secrets_of(system: System) -> dict[str, str]:
    keys = system.servers.meili_keys
    return {
        "ingest key": system.ingest_key,
        "meili master key": system.servers.meili_master_key,
        "meili index key": keys.index_key,
        "meili search key": keys.search_key,
    }


def test_no_secret_in_logs_metrics_or_responses(system: System) -> None:
    texts: dict[str, str] = {}
    for path in sorted(Path(system.logs).glob("*.log")):
        texts[f"log {path.name}"] = path.read_text(errors="replace")
    for name, url in system.ops_urls.items():
        texts[f"metrics {name}"] = httpx.get(f"{url}/metrics", timeout=10).text
    for number, response in enumerate(RESPONSES):
        texts[f"response {number} ({response.status_code})"] = response.text
    assert len(texts) > 8 and any(len(t) > 1000 for t in texts.values())
    leaks = [
        (where, secret)
        for where, text in texts.items()
        for secret, value in secrets_of(system).items()
        if value in text
    ]
    assert not leaks, leaks


def environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(
        item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0") if b"=" in item
    )


def test_the_master_key_is_in_no_service_environment(system: System) -> None:
    master = system.servers.meili_master_key
    for managed in system.group.processes:
        values = environment(managed.process.pid).values()
        assert master not in values, f"{managed.name} holds the Meilisearch master key"


def test_each_key_is_only_in_the_service_that_needs_it(system: System) -> None:
    needs = {
        "ingest key": {"ingest"},
        "meili index key": {"search"},
        "meili search key": {"search"},
    }
    holders: dict[str, set[str]] = {name: set() for name in needs}
    for managed in system.group.processes:
        values = set(environment(managed.process.pid).values())
        for name in needs:
            if secrets_of(system)[name] in values:
                holders[name].add(managed.name)
    assert holders == needs
