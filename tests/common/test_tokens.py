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
