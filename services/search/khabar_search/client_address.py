"""Which reader made a request: the connecting address, or what trusted proxies say it was.

`X-Forwarded-For` is a list every proxy appends the address it saw to, so
anything left of the proxies we run is the client's own claim. The reader is
the rightmost address that is not one of our proxies; the header counts only
when the connection itself comes from one of them. With no trusted proxies
(the default) the header is ignored and the connecting address is the reader.
"""

from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"


def parse_networks(spec: str) -> tuple[Network, ...]:
    """'10.0.0.0/8, 192.168.1.7' -> networks; a bare address is a network of one."""
    return tuple(ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def forwarded_for(scope: dict[str, Any]) -> list[str]:
    """The addresses of every X-Forwarded-For header of the request, in order."""
    return [
        part.strip()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for part in value.decode("latin-1").split(",")
    ]


def client_address(scope: dict[str, Any], trusted: tuple[Network, ...]) -> str:
    client = scope.get("client")
    peer = client[0] if client else UNKNOWN
    if not is_trusted(peer, trusted):
        return peer
    hops = forwarded_for(scope)
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            # A proxy of ours wrote it; a malformed one means the header cannot be read.
            return str(ip_address(hop)) if _is_address(hop) else peer
    return hops[0] if hops else peer


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True
