"""Streets and communities: seeded, read by everyone, the same ids on every install."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound
from services.common.pagination import PageParams, keyset_page
from services.registry.reference.data import STREETS
from services.registry.reference.models import Community, Street


async def list_streets(session: AsyncSession) -> list[Street]:
    return list(await session.scalars(select(Street).order_by(Street.code)))


async def list_communities(
    session: AsyncSession, page: PageParams, street_id: uuid.UUID | None
) -> tuple[list[Community], str | None]:
    stmt = select(Community)
    if street_id is not None:
        if await session.get(Street, street_id) is None:
            raise NotFound("No street with this id.", detail_zh="街道不存在。", code="street_not_found")
        stmt = stmt.where(Community.street_id == street_id)
    return await keyset_page(session, stmt, [Community.code, Community.id], page)


async def seed_reference_data(session: AsyncSession) -> int:
    """Insert the Binjiang streets and communities; existing rows are updated, never duplicated."""
    count = 0
    for street in STREETS:
        stmt = insert(Street).values(id=street.id, code=street.code, name=street.name, name_en=street.name_en)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Street.id],
                set_={"name": stmt.excluded.name, "name_en": stmt.excluded.name_en},
            )
        )
        for community in street.communities:
            cstmt = insert(Community).values(
                id=community.id,
                street_id=street.id,
                code=community.code,
                name=community.name,
                name_en=community.name_en,
            )
            await session.execute(
                cstmt.on_conflict_do_update(
                    index_elements=[Community.id],
                    set_={"name": cstmt.excluded.name, "name_en": cstmt.excluded.name_en},
                )
            )
            count += 1
    return count
