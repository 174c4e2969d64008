"""Push secrets on a real Redis: encrypted at rest, found at once when new, bound to their name."""

import asyncio
import base64
import json
import os
import time

import pytest

from khabar_ingest.push.destinations import (
    PUSH_DESTINATIONS_HASH,
    Cipher,
    PushSecrets,
    PushSecretsUnavailable,
    create_destination,
)
from khabar_ingest.push.signature import sign, signer_of
from khabar_shared.redis_helpers import connect
from tests.conftest import DATABASES, Servers

KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_a_new_secret_signs_at_once_and_is_stored_sealed_to_its_name(servers: Servers) -> None:
    url = servers.redis_url.rsplit("/", 1)[0] + f"/{next(DATABASES)}"

    async def scenario() -> None:
        redis = connect(url)
        await redis.flushdb()
        secrets = PushSecrets(redis, "", KEY, cache_s=60, default_time_zone="Asia/Amman")
        assert await secrets.candidates() == []  # remembered for a minute
        time.sleep(1.1)  # noqa: ASYNC251 - the fresh read is allowed once a second
        secret, _ = await create_destination(redis, Cipher(KEY), "desk", None)
        body = b'{"guid": "urn:x"}'
        found = signer_of(sign(secret, body), body, await secrets.candidates(fresh=True))
        assert found is not None and found.name == "desk" and found.time_zone == "Asia/Amman"

        stored = await redis.hget(PUSH_DESTINATIONS_HASH, "desk")
        assert secret.encode() not in stored
        # The sealed secret, moved under another destination's name, does not open.
        with pytest.raises(PushSecretsUnavailable):
            Cipher(KEY).open(json.loads(stored)["secret"], "other")
        await redis.aclose()

    asyncio.run(scenario())
