"""Endpoints for other services only (service tokens). The gateway never routes `/internal`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel

from services.common.auth import ServiceOnly
from services.common.db import DbSession
from services.evaluation.rounds.service import evaluator_site_scope

router = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


class ScopeRead(BaseModel):
    site_ids: list[uuid.UUID]


@router.get("/scopes", response_model=ScopeRead)
async def scopes(session: DbSession, _: ServiceOnly, evaluator_id: uuid.UUID) -> ScopeRead:
    """The sites an evaluator is assigned to in rounds that are open or closed (its `sites` claim,
    resolved by the gateway at login and refresh). Published rounds no longer count."""
    return ScopeRead(site_ids=await evaluator_site_scope(session, evaluator_id))
