"""The strict verifier's remembered tokens: still checked for expiry and key withdrawal on every use."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import time_machine
from jose.backends.base import Key

from services.common.timeutil import utc_now
from services.common.tokens import (
    InvalidToken,
    TokenSigner,
    TokenVerifier,
    generate_key_pair,
    public_key_from_jwk,
)


def _verifier() -> tuple[TokenSigner, TokenVerifier, dict[str, Key]]:
    pair = generate_key_pair()
    keys = {pair.kid: public_key_from_jwk(pair.public_jwk)}

    async def lookup(kid: str) -> Key | None:
        return keys.get(kid)

    signer = TokenSigner(pair, issuer="linju", audience="linju-api")
    return signer, TokenVerifier(lookup, issuer="linju", audience="linju-api"), keys


async def test_a_remembered_token_stops_when_its_key_is_withdrawn() -> None:
    signer, verifier, keys = _verifier()
    token = signer.sign(str(uuid.uuid4()), {"role": "district"}, ttl_s=600)
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first  # remembered
    keys.clear()
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_a_remembered_token_stops_when_it_expires() -> None:
    signer, verifier, _ = _verifier()
    with time_machine.travel(utc_now().replace(microsecond=0), tick=False) as clock:
        token = signer.sign(str(uuid.uuid4()), {"role": "district"}, ttl_s=60)
        await verifier.verify(token)
        clock.shift(60 + 30)  # the leeway's last second: still valid
        await verifier.verify(token)
        clock.shift(1)
        with pytest.raises(InvalidToken):
            await verifier.verify(token)


async def test_token_times_are_judged_by_the_one_clock() -> None:
    """exp, iat and nbf are checked against services.common.timeutil, not python-jose's own reading
    of the machine's clock: a stack whose test clock stands in 2031 issues and accepts 2031 tokens,
    refuses them once that clock has passed their exp, and refuses tokens issued in its future."""
    signer, verifier, _ = _verifier()
    moment = dt.datetime(2031, 2, 28, 15, 59, 59, tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=False) as clock:
        token = signer.sign(str(uuid.uuid4()), {"role": "district"}, ttl_s=600)
        assert (await verifier.verify(token))["iat"] == int(moment.timestamp())
        clock.shift(600 + 31)
        with pytest.raises(InvalidToken):
            await verifier.verify(token)
    fresh = _verifier()
    with time_machine.travel(moment, tick=False):
        from_the_future = fresh[0].sign(
            str(uuid.uuid4()), {"role": "district"}, ttl_s=60, now=moment.timestamp() + 120
        )
        with pytest.raises(InvalidToken, match="lifetime"):
            await fresh[1].verify(from_the_future)
        not_yet = fresh[0].sign(
            str(uuid.uuid4()), {"role": "district", "nbf": int(moment.timestamp()) + 120}, ttl_s=600
        )
        with pytest.raises(InvalidToken, match="lifetime"):
            await fresh[1].verify(not_yet)


async def test_the_cache_is_bounded() -> None:
    signer, verifier, _ = _verifier()
    verifier.CACHE_SIZE = 5
    for _ in range(8):
        await verifier.verify(signer.sign(str(uuid.uuid4()), {"role": "street"}, ttl_s=60))
    assert len(verifier._verified) == 5


def test_concurrent_first_lookups_wait_for_the_refresh_in_flight() -> None:
    """A service that just started fetches the JWKS once; requests arriving meanwhile wait for that
    fetch instead of answering 401 (found by the fault suite: a restarted service refused valid
    tokens for a moment)."""
    import asyncio
    import json

    from services.common.tokens import JwksCache, generate_key_pair

    pair = generate_key_pair()
    fetches = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal fetches
        await reader.readuntil(b"\r\n\r\n")
        fetches += 1
        await asyncio.sleep(0.2)
        body = json.dumps({"keys": [pair.public_jwk]}).encode()
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
        writer.write(head + body)
        await writer.drain()
        writer.close()

    async def scenario() -> list[object]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            cache = JwksCache(f"http://127.0.0.1:{port}/jwks", refetch_interval_s=60)
            return list(await asyncio.gather(*(cache.lookup(pair.kid) for _ in range(5))))

    keys = asyncio.run(scenario())
    assert all(key is not None for key in keys) and fetches == 1
