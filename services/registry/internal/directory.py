"""`GET /internal/sites`: which site ids exist, with their street — for other services.

Activities checks a site before the district logs work for it, and turns a
`street_id` filter of its statistics into site ids; evaluation lists the sites
of a round. Service tokens only; never routed by the gateway.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Uuid, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from services.common.auth import ServiceOnly
from services.common.db import DbSession
from services.common.timeutil import today_shanghai
from services.registry.contracts.models import Contract
from services.registry.sites.models import Site

router = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


class SiteEntry(BaseModel):
    id: uuid.UUID
    street_id: uuid.UUID
    community_id: uuid.UUID
    status: str
    name: str
    code: str
    # Organisations holding a contract for the site that is active today (its operators).
    operator_organization_ids: list[uuid.UUID]


class SiteDirectory(BaseModel):
    items: list[SiteEntry]


@router.get("/sites", response_model=SiteDirectory)
async def site_directory(
    session: DbSession,
    _: ServiceOnly,
    ids: Annotated[list[uuid.UUID] | None, Query(max_length=1000)] = None,
    street_id: uuid.UUID | None = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> SiteDirectory:
    operators = (
        select(func.coalesce(func.array_agg(Contract.organization_id.distinct()), literal([], ARRAY(Uuid))))
        .where(
            Contract.site_id == Site.id,
            Contract.starts_on <= today_shanghai(),
            Contract.ends_on >= today_shanghai(),
        )
        .scalar_subquery()
    )
    stmt = select(
        Site.id,
        Site.street_id,
        Site.community_id,
        Site.status,
        Site.name,
        Site.code,
        operators.label("operator_organization_ids"),
    ).order_by(Site.code)
    if ids is not None:
        stmt = stmt.where(Site.id.in_(ids))
    if street_id is not None:
        stmt = stmt.where(Site.street_id == street_id)
    if status is not None:
        stmt = stmt.where(Site.status == status)
    rows = (await session.execute(stmt)).all()
    return SiteDirectory(items=[SiteEntry.model_validate(row, from_attributes=True) for row in rows])
