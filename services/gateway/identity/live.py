"""Gateway-side token acceptance: a valid signature is not enough.

Besides the strict verification every service does, the gateway checks that
the account behind the token still exists, is active and has the same
``token_version`` the token was issued with, so deactivating a user or changing
its role stops its tokens at once (not when they expire).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, get_principal, require_roles
from services.common.errors import Unauthorized
from services.gateway.database import ApiClient, User

log = logging.getLogger("linju.gateway.accounts")


def _revoked() -> Unauthorized:
    return Unauthorized(
        "The access token is no longer valid.", detail_zh="访问令牌已失效。", code="invalid_token"
    )


ACCOUNTS_CHANNEL = "linju_accounts"
_MISSING = object()


class AccountStates:
    """``sub`` → (active, token_version), cached in the gateway process and kept exact by NOTIFY.

    Every change of an account's state sends ``NOTIFY linju_accounts, '<sub>'`` in the same
    transaction (:func:`announce_account_change`); PostgreSQL delivers it to every gateway
    replica on commit, and each drops its cached entry. While the listening connection is down
    nothing is cached and every check reads the database, so a lost notification can never keep
    a revoked token alive.
    """

    def __init__(self, sessionmaker: Any, dsn: str) -> None:
        self._sessionmaker = sessionmaker
        self._dsn = dsn
        self._cache: dict[str, tuple[bool, int] | None] = {}
        self._connection: asyncpg.Connection | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def listening(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def start(self) -> None:
        try:
            connection = await asyncpg.connect(self._dsn)
            await connection.add_listener(ACCOUNTS_CHANNEL, self._on_notify)
            connection.add_termination_listener(self._on_lost)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("account listener not connected (%s); checking the database every time", exc)
            self._schedule_reconnect()
            return
        self._cache.clear()
        self._connection = connection

    async def stop(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._cache.pop(payload, None)

    def _on_lost(self, connection: Any) -> None:
        self._connection = None
        self._cache.clear()
        if not self._closing:
            self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        async def retry() -> None:
            await asyncio.sleep(1.0)
            await self.start()

        if not self._closing and (self._reconnect is None or self._reconnect.done()):
            self._reconnect = asyncio.get_running_loop().create_task(retry())

    def forget(self, sub: str) -> None:
        self._cache.pop(sub, None)

    async def state(self, sub: str) -> tuple[bool, int] | None:
        cached = self._cache.get(sub, _MISSING)
        if cached is not _MISSING and self.listening:
            return cached  # type: ignore[return-value]
        async with self._sessionmaker() as session:
            if sub.startswith("client:"):
                stmt = select(ApiClient.active, ApiClient.token_version).where(
                    ApiClient.client_id == sub.removeprefix("client:")
                )
            else:
                try:
                    user_id = uuid.UUID(sub)
                except ValueError:
                    return None
                stmt = select(User.active, User.token_version).where(User.id == user_id)
            row = (await session.execute(stmt)).first()
        state = (bool(row.active), int(row.token_version)) if row is not None else None
        if self.listening:
            self._cache[sub] = state
        return state


async def announce_account_change(session: AsyncSession, sub: str) -> None:
    """Tell every gateway replica (on commit) that this account's tokens must be re-checked."""
    await session.execute(text("SELECT pg_notify(:channel, :sub)"), {"channel": ACCOUNTS_CHANNEL, "sub": sub})


async def check_account(accounts: AccountStates, sub: str, claims_version: Any) -> None:
    """401 unless the account behind ``sub`` exists, is active and still has the token's version."""
    if sub.startswith("service:"):
        return
    state = await accounts.state(sub)
    if state is None or not state[0] or state[1] != claims_version:
        raise _revoked()


async def ensure_token_current(request: Request, principal: Principal, claims_version: Any) -> None:
    await check_account(request.app.state.accounts, principal.sub, claims_version)


async def live_principal(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    await ensure_token_current(request, principal, request.state.token_claims.get("ver"))
    return principal


LivePrincipal = Annotated[Principal, Depends(live_principal)]


async def _district(principal: LivePrincipal) -> Principal:
    return await require_roles("district")(principal)


LiveDistrict = Annotated[Principal, Depends(_district)]
