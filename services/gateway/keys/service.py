"""Signing keys: stored in the database, rotated with `linju rotate-keys`.

The newest un-retired key signs. Rotation adds a key and retires the previous
one, which stays in the JWKS until every token it signed has expired (15 min
+ leeway), so clients and services see no gap.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from jose.backends.base import Key
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.timeutil import utc_now
from services.common.tokens import (
    LEEWAY_S,
    MAX_ACCESS_TTL_S,
    KeyPair,
    TokenSigner,
    generate_key_pair,
    public_key_from_jwk,
)
from services.gateway.database import SigningKey

RETIRED_KEY_GRACE = dt.timedelta(seconds=MAX_ACCESS_TTL_S + LEEWAY_S + 60)


async def add_signing_key(session: AsyncSession, *, activate_in_s: int = 0) -> str:
    """Create a key that signs from ``activate_in_s`` seconds on; the current key signs until then.

    The new key is in the JWKS at once, so services that refresh their copy in the meantime never
    meet a token with a kid they do not know. Returns the new kid.
    """
    pair = generate_key_pair()
    now = utc_now()
    activates = now + dt.timedelta(seconds=activate_in_s)
    await session.execute(
        update(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > activates))
        .values(retired_at=activates)
    )
    session.add(
        SigningKey(
            kid=pair.kid,
            private_pem=pair.private_pem,
            public_jwk=pair.public_jwk,
            created_at=now,
            activates_at=activates,
        )
    )
    await session.flush()
    return pair.kid


async def ensure_signing_key(session: AsyncSession) -> None:
    if await session.scalar(select(SigningKey.kid).where(SigningKey.retired_at.is_(None)).limit(1)) is None:
        await add_signing_key(session)


def _signing_now() -> Any:
    now = utc_now()
    return and_(
        SigningKey.activates_at <= now, or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > now)
    )


async def current_signing_kid(session: AsyncSession) -> str | None:
    return await session.scalar(
        select(SigningKey.kid).where(_signing_now()).order_by(SigningKey.activates_at.desc()).limit(1)
    )


async def published_keys(session: AsyncSession) -> list[SigningKey]:
    """Keys in the JWKS: pending, signing, and retired ones whose tokens may still be alive."""
    cutoff = utc_now() - RETIRED_KEY_GRACE
    rows = await session.scalars(
        select(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
        .order_by(SigningKey.activates_at.desc())
    )
    return list(rows)


class KeyRing:
    """The gateway's in-process view of the keys: the signer and the verification allow-list.

    Reloaded from the database when an unknown kid shows up (at most once a second)
    and whenever a token is issued with a key other than the current one in the
    database, so a rotation done by the CLI is picked up without a restart.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, issuer: str, audience: str) -> None:
        self._sessionmaker = sessionmaker
        self._issuer = issuer
        self._audience = audience
        self._signer: TokenSigner | None = None
        self._public: dict[str, Key] = {}
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        async with self._lock:
            async with self._sessionmaker() as session:
                keys = await published_keys(session)
            self._loaded_at = time.monotonic()
            self._public = {k.kid: public_key_from_jwk(k.public_jwk) for k in keys}
            self._jwks = {"keys": [k.public_jwk for k in keys]}
            now = utc_now()
            signing = [
                k for k in keys if k.activates_at <= now and (k.retired_at is None or k.retired_at > now)
            ]
            current = signing[0] if signing else None
            if current is not None and (self._signer is None or self._signer.kid != current.kid):
                self._signer = TokenSigner(
                    KeyPair(current.kid, current.private_pem, current.public_jwk),
                    issuer=self._issuer,
                    audience=self._audience,
                )

    async def lookup(self, kid: str) -> Key | None:
        key = self._public.get(kid)
        if key is None and time.monotonic() - self._loaded_at > 1.0:
            await self.reload()
            key = self._public.get(kid)
        return key

    async def signer(self, session: AsyncSession) -> TokenSigner:
        if self._signer is None or self._signer.kid != await current_signing_kid(session):
            await self.reload()
        assert self._signer is not None, "no signing key: run `linju migrate` first"
        return self._signer

    async def jwks(self) -> dict[str, Any]:
        if time.monotonic() - self._loaded_at > 1.0:
            await self.reload()
        return self._jwks
