"""Push destinations: one secret per Superdesk destination, kept encrypted in Redis.

An HMAC can only be checked by someone holding the secret itself, so a
one-way hash (as for API keys) cannot be stored here. Each secret is
encrypted with AES-256-GCM under `KHABAR_PUSH_SECRETS_KEY`, a key that lives
only in the environment of ingest and of the operator's CLI, never in Redis:
a copy of Redis (a backup, a replica, a `MONITOR`) shows no usable secret.
The destination's name is the AES-GCM associated data, so a ciphertext moved
to another destination's record does not decrypt.

Rotation keeps the previous secret valid for a grace period, long enough for
the Superdesk administrator to paste the new one into the destination.
"""

import base64
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from khabar_shared.logging import get_logger
from khabar_shared.redis_helpers import RedisClient

log = get_logger(__name__)

PUSH_DESTINATIONS_HASH = "khabar:ingest:push-destinations"
BOOTSTRAP_DESTINATION = "bootstrap-push"
_NONCE_BYTES = 12


class PushSecretsUnavailable(RuntimeError):
    """No (or no usable) `KHABAR_PUSH_SECRETS_KEY`: stored secrets can't be made or read."""


class DestinationNameTaken(ValueError):
    pass


class Destination(BaseModel):
    """What a signed request is known by: the name goes into events and logs."""

    name: str
    time_zone: str | None = None


class StoredDestination(Destination):
    created_at: datetime
    rotated_at: datetime | None = None
    secret: str  # base64(nonce ‖ AES-GCM ciphertext)
    previous: str | None = None
    previous_until: datetime | None = None


def new_push_secret() -> str:
    return secrets.token_urlsafe(32)


def new_encryption_key() -> str:
    """A value for `KHABAR_PUSH_SECRETS_KEY` (32 random bytes, URL-safe base64)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def check_time_zone(name: str) -> str:
    """`name` if it is an IANA zone ('Asia/Riyadh', 'UTC'), else ValueError saying so."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"{name!r} is not an IANA time zone like 'Asia/Riyadh' or 'UTC'"
        ) from error
    return name


class Cipher:
    def __init__(self, key: str) -> None:
        try:
            raw = base64.urlsafe_b64decode(key.encode() + b"=" * (-len(key) % 4))
        except ValueError as error:
            raise PushSecretsUnavailable("KHABAR_PUSH_SECRETS_KEY is not base64") from error
        if len(raw) != 32:
            raise PushSecretsUnavailable("KHABAR_PUSH_SECRETS_KEY must hold 32 bytes (base64)")
        self._aead = AESGCM(raw)

    @classmethod
    def from_setting(cls, key: str) -> "Cipher":
        if not key:
            raise PushSecretsUnavailable(
                "KHABAR_PUSH_SECRETS_KEY is not set: push secrets are stored encrypted with it "
                "(make one with `khabar keys push new-encryption-key`)"
            )
        return cls(key)

    def seal(self, secret: str, name: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        return base64.b64encode(
            nonce + self._aead.encrypt(nonce, secret.encode(), name.encode())
        ).decode()

    def open(self, sealed: str, name: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], name.encode()
            ).decode()
        except InvalidTag as error:
            raise PushSecretsUnavailable(
                f"the secret of {name!r} does not decrypt with this KHABAR_PUSH_SECRETS_KEY"
            ) from error


async def list_destinations(redis: RedisClient) -> list[StoredDestination]:
    stored = await redis.hvals(PUSH_DESTINATIONS_HASH)
    return sorted(
        (StoredDestination.model_validate_json(raw) for raw in stored), key=lambda d: d.name
    )


async def create_destination(
    redis: RedisClient, cipher: Cipher, name: str, time_zone: str | None
) -> tuple[str, StoredDestination]:
    """A new destination: its secret (shown once) and its stored record."""
    if name == BOOTSTRAP_DESTINATION or await redis.hexists(PUSH_DESTINATIONS_HASH, name):
        raise DestinationNameTaken(f"a push destination named {name!r} exists; rotate or revoke it")
    secret = new_push_secret()
    record = StoredDestination(
        name=name,
        time_zone=time_zone,
        created_at=datetime.now(UTC),
        secret=cipher.seal(secret, name),
    )
    await redis.hset(PUSH_DESTINATIONS_HASH, name, record.model_dump_json())
    return secret, record


async def rotate_destination(
    redis: RedisClient, cipher: Cipher, name: str, grace: timedelta
) -> tuple[str, StoredDestination] | None:
    """A new secret for `name`; the old one stays valid for `grace`. None if no such name."""
    raw = await redis.hget(PUSH_DESTINATIONS_HASH, name)
    if raw is None:
        return None
    record = StoredDestination.model_validate_json(raw)
    secret = new_push_secret()
    now = datetime.now(UTC)
    rotated = record.model_copy(update={
        "secret": cipher.seal(secret, name), "rotated_at": now,
        "previous": record.secret if grace > timedelta(0) else None,
        "previous_until": now + grace if grace > timedelta(0) else None,
    })  # fmt: skip
    await redis.hset(PUSH_DESTINATIONS_HASH, name, rotated.model_dump_json())
    return secret, rotated


async def revoke_destination(redis: RedisClient, name: str) -> int:
    return int(await redis.hdel(PUSH_DESTINATIONS_HASH, name))


class PushSecrets:
    """The secrets a signature may be made with: the bootstrap one and the stored ones.

    Stored secrets are decrypted once and kept for `cache_s` seconds, so a
    revoked or rotated secret stops (or starts) working within that time.
    """

    def __init__(
        self,
        redis: RedisClient,
        bootstrap: str,
        encryption_key: str,
        cache_s: float,
        default_time_zone: str,
    ) -> None:
        self._redis = redis
        self._bootstrap = bootstrap
        self._cipher = Cipher(encryption_key) if encryption_key else None
        self._cache_s = cache_s
        self._default_zone = default_time_zone
        self._loaded: tuple[float, list[tuple[str, Destination]]] | None = None
        self._read_at = 0.0

    async def candidates(self, fresh: bool = False) -> list[tuple[str, Destination]]:
        """Every (secret, destination); `fresh` reads Redis again (at most once a second), for
        a signature the remembered secrets did not match: a secret made a moment ago works
        at once, not after `cache_s`."""
        found: list[tuple[str, Destination]] = []
        if self._bootstrap:
            found.append(
                (
                    self._bootstrap,
                    Destination(name=BOOTSTRAP_DESTINATION, time_zone=self._default_zone),
                )
            )
        return found + await self._stored(fresh)

    async def _stored(self, fresh: bool) -> list[tuple[str, Destination]]:
        if self._cipher is None:
            return []
        now_s = time.monotonic()
        if self._loaded and self._loaded[0] > now_s and not (fresh and now_s - self._read_at > 1):
            return self._loaded[1]
        self._read_at = now_s
        now = datetime.now(UTC)
        found: list[tuple[str, Destination]] = []
        for record in await list_destinations(self._redis):
            who = Destination(name=record.name, time_zone=record.time_zone or self._default_zone)
            sealed = [record.secret]
            if record.previous and record.previous_until and record.previous_until > now:
                sealed.append(record.previous)
            try:
                found.extend((self._cipher.open(secret, record.name), who) for secret in sealed)
            except PushSecretsUnavailable as error:
                # One destination sealed under another key must not lock out the others.
                log.error("push_secret_unreadable", destination=record.name, error=str(error))
        if self._cache_s > 0:
            self._loaded = (time.monotonic() + self._cache_s, found)
        return found
