"""`GET /internal/users/{id}` — for other services (service tokens only).

The evaluation service asks which organisation an evaluator belongs to (conflict
of interest, 7.1.2). The gateway's route policy never proxies `/internal`, and
this router answers only service tokens.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel

from services.common.auth import ServiceOnly
from services.common.db import DbSession
from services.gateway.identity import service

router = APIRouter(prefix="/internal", include_in_schema=False)


class UserFacts(BaseModel):
    id: uuid.UUID
    role: str
    active: bool
    street_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    display_name: str


@router.get("/users/{user_id}", response_model=UserFacts)
async def user_facts(session: DbSession, _: ServiceOnly, user_id: uuid.UUID) -> UserFacts:
    user = await service.get_user(session, user_id)
    return UserFacts(
        id=user.id,
        role=user.role,
        active=user.active,
        street_id=user.street_id,
        organization_id=user.organization_id,
        display_name=user.display_name,
    )
