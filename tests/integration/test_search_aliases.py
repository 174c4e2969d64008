"""Aliases learned from the archive, end to end: a gloss in one article lets a Latin query
find another article that writes the name only in Arabic; an operator removes a bad alias;
a withdrawal takes back what the article gave.

The services run with the transliteration fallback off, so only a learned
alias can take "BuzzFeed" to بزفييد.
"""

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from typer.testing import CliRunner

from khabar_cli.main import app
from khabar_dev.processes import ProcessGroup, free_port, start_services
from tests.conftest import DATABASES, Servers, service_env
from tests.support import eventually

GLOSSED = {
    "uri": "urn:test:aliases:glossed",
    "language": "ar",
    "headline": "تحقيق صحفي يكشف تفاصيل صفقة إعلانية",
    "body_html": "<p>قال موقع بزفييد (BuzzFeed) الإخباري إن الصفقة أبرمت العام الماضي "
    "بعد مفاوضات طويلة بين الشركتين.</p>",
    "versioncreated": "2026-12-01T08:00:00+00:00",
}
ARABIC_ONLY = {
    "uri": "urn:test:aliases:arabic-only",
    "language": "ar",
    "headline": "موقع بزفييد يسرح مئات الموظفين",
    "body_html": "<p>أعلن موقع بزفييد الأمريكي تسريح مئات الموظفين في أقسامه الإخبارية "
    "بسبب تراجع عائدات الإعلانات.</p>",
    "versioncreated": "2026-12-02T08:00:00+00:00",
}
runner = CliRunner()


@pytest.fixture(scope="module")
def site(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    db = next(DATABASES)
    key = secrets.token_urlsafe(16)
    env = {
        **service_env(servers, db, key, f"articles_alias_{secrets.token_hex(3)}"),
        "KHABAR_TRANSLITERATE": "false",
        "KHABAR_ALIAS_REFRESH_S": "0.5",
    }
    redis.Redis.from_url(env["KHABAR_REDIS_URL"]).flushdb()
    ports = {service: free_port() for service in ("ingest", "enrich", "search")}
    group = ProcessGroup()
    try:
        start_services(group, env, ports, tmp_path_factory.mktemp("alias-logs"))
        yield {
            "ingest": f"http://127.0.0.1:{ports['ingest']}",
            "search": f"http://127.0.0.1:{ports['search']}",
            "key": key,
            "redis": env["KHABAR_REDIS_URL"],
        }
    finally:
        group.stop_all()


def post(site: dict[str, str], document: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{site['ingest']}/v1/articles",
        json=document,
        timeout=10,
        headers={"Authorization": f"Bearer {site['key']}"},
    )
    assert answer.status_code == 202, answer.text
    article_id: str = answer.json()["article_id"]
    return article_id


def search_ids(site: dict[str, str], q: str) -> list[str]:
    answer = httpx.get(f"{site['search']}/v1/search", params={"q": q}, timeout=10)
    answer.raise_for_status()
    return [hit["id"] for hit in answer.json()["hits"]]


def khabar(site: dict[str, str], *args: str) -> str:
    result = runner.invoke(
        app, list(args), env={"KHABAR_REDIS_URL": site["redis"], "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_learned_removed_and_taken_back(site: dict[str, str]) -> None:
    arabic_only = post(site, ARABIC_ONLY)
    eventually(lambda: arabic_only in search_ids(site, "بزفييد"))
    assert arabic_only not in search_ids(site, "BuzzFeed")  # nothing learned yet

    glossed = post(site, GLOSSED)
    eventually(lambda: "buzzfeed" in khabar(site, "aliases", "list") or None)
    listed = khabar(site, "aliases", "list", "--latin", "BuzzFeed")
    assert "بزفييد" in listed and glossed in listed
    found = eventually(lambda: arabic_only in (ids := search_ids(site, "BuzzFeed")) and ids)
    assert glossed in found

    khabar(site, "aliases", "remove", "BuzzFeed", "بزفييد")
    eventually(lambda: arabic_only not in search_ids(site, "BuzzFeed") or None)
    assert glossed in search_ids(site, "BuzzFeed")  # its own Latin word still matches
    assert "buzzfeed" not in khabar(site, "aliases", "list")

    httpx.delete(
        f"{site['ingest']}/v1/articles/{glossed}",
        timeout=10,
        headers={"Authorization": f"Bearer {site['key']}"},
    ).raise_for_status()
    store = redis.Redis.from_url(site["redis"])
    eventually(lambda: store.hget("khabar:{search}:aliases:by-article", glossed) is None or None)


def test_removing_an_alias_nobody_learned_says_so(site: dict[str, str]) -> None:
    result = runner.invoke(
        app,
        ["aliases", "remove", "Nothing", "لاشيء"],
        env={"KHABAR_REDIS_URL": site["redis"], "COLUMNS": "200"},
    )
    assert result.exit_code == 1 and "No learned alias" in result.output
