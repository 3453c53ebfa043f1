from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.scope import scope_site_ids


async def site_scope(
    session: AsyncSession, role: str, street_id: uuid.UUID | None, organization_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """Sites visible to a street user (its street's) or an operator (active contract today)."""
    return await scope_site_ids(session, role, street_id, organization_id)
