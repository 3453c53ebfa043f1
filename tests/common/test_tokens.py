"""The strict verifier's remembered tokens: still checked for expiry and key withdrawal on every use."""

from __future__ import annotations

import time
import uuid

import pytest
from jose.backends.base import Key

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


async def test_a_remembered_token_stops_when_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    signer, verifier, _ = _verifier()
    token = signer.sign(str(uuid.uuid4()), {"role": "district"}, ttl_s=60)
    await verifier.verify(token)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 60 + 31)
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


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
