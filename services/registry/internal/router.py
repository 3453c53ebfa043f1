"""Endpoints for other services only (service tokens). The gateway never routes `/internal`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.common.auth import ServiceOnly
from services.common.db import DbSession
from services.registry.internal import service

router = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


class ScopeRead(BaseModel):
    site_ids: list[uuid.UUID]


@router.get("/scopes", response_model=ScopeRead)
async def scopes(
    session: DbSession,
    _: ServiceOnly,
    role: Annotated[str, Query(pattern="^(street|operator)$")],
    street_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
) -> ScopeRead:
    """The site ids a street user (its street's sites) or an operator (sites its organisation holds an
    active contract for today) may see: the gateway puts them into the `sites` claim."""
    return ScopeRead(site_ids=await service.site_scope(session, role, street_id, organization_id))
