"""Gateway-side token acceptance: a valid signature is not enough.

Besides the strict verification every service does, the gateway checks that
the account behind the token still exists, is active and has the same
``token_version`` the token was issued with, so deactivating a user or changing
its role stops its tokens at once (not when they expire).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select

from services.common.auth import Principal, get_principal, require_roles
from services.common.errors import Unauthorized
from services.gateway.database import ApiClient, User


def _revoked() -> Unauthorized:
    return Unauthorized(
        "The access token is no longer valid.", detail_zh="访问令牌已失效。", code="invalid_token"
    )


async def ensure_token_current(request: Request, principal: Principal, claims_version: Any) -> None:
    sub = principal.sub
    if sub.startswith("service:"):
        return
    async with request.app.state.sessionmaker() as session:
        if sub.startswith("client:"):
            row = (
                await session.execute(
                    select(ApiClient.active, ApiClient.token_version).where(
                        ApiClient.client_id == sub.removeprefix("client:")
                    )
                )
            ).first()
        else:
            try:
                user_id = uuid.UUID(sub)
            except ValueError:
                raise _revoked() from None
            row = (
                await session.execute(select(User.active, User.token_version).where(User.id == user_id))
            ).first()
    if row is None or not row.active or row.token_version != claims_version:
        raise _revoked()


async def live_principal(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    await ensure_token_current(request, principal, request.state.token_claims.get("ver"))
    return principal


LivePrincipal = Annotated[Principal, Depends(live_principal)]


async def _district(principal: LivePrincipal) -> Principal:
    return await require_roles("district")(principal)


LiveDistrict = Annotated[Principal, Depends(_district)]
