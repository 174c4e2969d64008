"""Who the reader is: the connecting address, or the rightmost one our own proxies vouch for."""

from khabar_search.client_address import client_address, parse_networks


def scope(peer: str, *forwarded: str) -> dict[str, object]:
    return {
        "client": (peer, 5555),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


TRUSTED = parse_networks("127.0.0.1, 10.0.0.0/8, fd00::/8")


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address(scope("127.0.0.1", "203.0.113.7"), ()) == "127.0.0.1"
    assert client_address(scope("198.51.100.2", "203.0.113.7"), TRUSTED) == "198.51.100.2"


def test_the_reader_is_the_rightmost_address_that_is_not_our_proxy() -> None:
    # What the reader wrote is left of what our proxies appended.
    assert client_address(scope("10.0.0.5", "1.1.1.1, 203.0.113.7, 10.2.3.4"), TRUSTED) == (
        "203.0.113.7"
    )
    assert client_address(scope("127.0.0.1", "1.1.1.1", "203.0.113.7"), TRUSTED) == "203.0.113.7"
    assert client_address(scope("127.0.0.1"), TRUSTED) == "127.0.0.1"


def test_a_malformed_hop_where_the_reader_should_be_falls_back_to_the_peer() -> None:
    assert client_address(scope("10.0.0.5", "1.1.1.1, not-an-address"), TRUSTED) == "10.0.0.5"
