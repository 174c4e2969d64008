"""Operations routes leave the public port: a real ingest process answers them on its
operations port only; `/healthz` answers on both."""

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Servers
from tests.integration.ingest_fixtures import IngestProcess, ingest_process

OPS_ROUTES = ("/metrics", "/readyz", "/docs", "/openapi.json")


@pytest.fixture(scope="module")
def ingest(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    process = ingest_process(servers, tmp_path_factory.mktemp("ingest-ops"))
    yield process
    process.group.stop_all()


@pytest.mark.parametrize("route", OPS_ROUTES)
def test_operations_routes_are_not_on_the_public_port(ingest: IngestProcess, route: str) -> None:
    public = httpx.get(f"{ingest.url}{route}", timeout=10)
    assert public.status_code == 404
    assert public.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(f"{ingest.ops_url}{route}", timeout=10).status_code == 200


def test_health_answers_on_both_ports(ingest: IngestProcess) -> None:
    assert ingest.ops_url != ingest.url
    for base in (ingest.url, ingest.ops_url):
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
