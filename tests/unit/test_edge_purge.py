"""How render cuts surrogate keys into the edge's purge requests."""

import asyncio

from khabar_render.purge import EdgePurger, PurgeNotifier, header_chunks


def test_every_key_is_purged_once_and_no_header_passes_the_limit() -> None:
    keys = [f"article:{'x' * 40}-{n}" for n in range(400)]
    chunks = header_chunks(keys, limit=1000)
    assert all(len(chunk.encode()) <= 1000 for chunk in chunks)
    assert [key for chunk in chunks for key in chunk.split(" ")] == keys
    assert len(chunks) > 1


def test_a_key_longer_than_the_limit_still_goes_alone() -> None:
    assert header_chunks(["a" * 50, "b"], limit=10) == ["a" * 50, "b"]


def test_an_address_is_purged_as_it_is_and_a_name_at_each_of_its_addresses() -> None:
    async def urls(url: str) -> list[str]:
        return await EdgePurger(url, "t")._replica_urls()

    assert asyncio.run(urls("http://127.0.0.1:8000/")) == ["http://127.0.0.1:8000/"]
    assert asyncio.run(urls("http://localhost:8000/"))[0] in (
        "http://127.0.0.1:8000/",
        "http://[::1]:8000/",
    )


def test_render_closes_its_edge_client_on_the_way_out() -> None:
    """Shutdown runs the notifier's aclose, which closes the edge purger's client."""
    purger = EdgePurger("http://127.0.0.1:8000/", "t")
    asyncio.run(PurgeNotifier("", purger).aclose())
    assert purger.is_closed
