"""Superdesk's request signature: `x-superdesk-signature: sha1=<hex HMAC-SHA1 of the body>`.

Superdesk's `http_push` transmitter signs the exact bytes it sends (the JSON
item, or the whole multipart body of an asset) with the destination's
`secret_token`. Only the raw body can be checked: nothing may be parsed or
re-encoded before this.
"""

import hashlib
import hmac
from collections.abc import Iterable
from typing import TypeVar

SIGNATURE_HEADER = "x-superdesk-signature"
_PREFIX = "sha1="

T = TypeVar("T")


def sign(secret: str, body: bytes) -> str:
    """The header value Superdesk sends for `body` signed with `secret`."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def signer_of(header: str | None, body: bytes, candidates: Iterable[tuple[str, T]]) -> T | None:
    """The owner of the first secret whose signature of `body` is `header`, else None.

    Every candidate is compared in constant time (`hmac.compare_digest`), so the
    time taken says nothing about how much of a forged signature was right.
    """
    if not header or not header.startswith(_PREFIX):
        return None
    presented = header.strip().encode()
    found: T | None = None
    for secret, owner in candidates:
        if hmac.compare_digest(sign(secret, body).encode(), presented) and found is None:
            found = owner
    return found
