from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.registry.audit import audit
from services.registry.database import utcnow
from services.registry.scope import scope_site_ids, site_not_found
from services.registry.sites.models import Site
from services.registry.sites.schemas import TierUpdate


async def site_scope(
    session: AsyncSession, role: str, street_id: uuid.UUID | None, organization_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """Sites visible to a street user (its street's) or an operator (active contract today)."""
    return await scope_site_ids(session, role, street_id, organization_id)


async def set_site_tier(
    session: AsyncSession, request: Request, principal: Principal, site_id: uuid.UUID, body: TierUpdate
) -> Site:
    """Record the hub type a published final round gave the site (Annex A). Sending the same tier
    for the same round again changes nothing."""
    site = await session.scalar(select(Site).where(Site.id == site_id).with_for_update())
    if site is None:
        raise site_not_found()
    tier = body.tier.value if body.tier else None
    if site.tier == tier and site.tier_round_id == body.round_id:
        return site
    before = {"tier": site.tier, "tier_round_id": site.tier_round_id, "tier_updated_at": site.tier_updated_at}
    now = utcnow()
    site.tier = tier
    site.tier_round_id = body.round_id
    site.tier_updated_at = now
    site.version += 1
    site.updated_at = now
    await session.flush()
    after = {"tier": site.tier, "tier_round_id": site.tier_round_id, "tier_updated_at": site.tier_updated_at}
    await audit(session, request, principal, "site.tier", "site", site.id, before=before, after=after)
    return site
