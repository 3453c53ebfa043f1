from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession


async def site_scope(
    session: AsyncSession, role: str, street_id: uuid.UUID | None, organization_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """Sites visible to a street or operator user.

    The registry has no sites yet (they arrive with the sites/contracts domain), so every
    scope is empty for now; the contract (query parameters, response shape, service-token
    auth) is the one the gateway relies on.
    """
    return []
