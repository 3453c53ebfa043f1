"""Endpoints for other services only (service tokens). The gateway never routes `/internal`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel

from services.common.auth import ServiceOnly

router = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


class ScopeRead(BaseModel):
    site_ids: list[uuid.UUID]


@router.get("/scopes", response_model=ScopeRead)
async def scopes(_: ServiceOnly, evaluator_id: uuid.UUID) -> ScopeRead:
    """The sites an evaluator is assigned to in open rounds (its `sites` claim).

    Rounds and assignments arrive with the evaluation domain; until then no evaluator is
    assigned anywhere, so the scope is empty.
    """
    return ScopeRead(site_ids=[])
