"""`/staff`: the people running each site and their continuing education (5.2 运营人员)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.common.auth import AnyUser, Principal, require_roles
from services.common.db import DbSession
from services.common.enums import Certificate
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.registry.staff import service
from services.registry.staff.schemas import (
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TrainingCreate,
    TrainingRead,
)

router = APIRouter(tags=["staff"])

# Streets read their street's staff but do not manage them; operators manage their own sites' staff.
StaffWriter = Annotated[Principal, Depends(require_roles("district", "operator"))]
Year = Annotated[
    int | None,
    Query(ge=2000, le=2100, description="Calendar year the training hours count; default this year."),
]


@router.get("/staff", response_model=Page[StaffRead], summary="List staff")
async def list_staff(
    session: DbSession,
    principal: AnyUser,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    certificate: Certificate | None = None,
    active: Annotated[bool | None, Query(description="Working at the site today, or not.")] = None,
    year: Year = None,
) -> Page[StaffRead]:
    """Staff of the sites you may see (5.2), oldest record first. Each carries its `training_hours` in
    `year` (default this year) and `training_shortfall`: a certified social worker (junior,
    intermediate, senior) with fewer than 50 hours that year (5.2.3)."""
    items, cursor = await service.list_staff(
        session, principal, page, site_id=site_id, certificate=certificate, active=active, year=year
    )
    return Page(items=items, next_cursor=cursor)


@router.post("/staff", response_model=StaffRead, status_code=201, summary="Add a staff member")
async def create_staff(
    request: Request,
    session: DbSession,
    principal: StaffWriter,
    body: StaffCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """District, or the operator of the site. `site_id` must be a site you may manage (otherwise 422
    naming `site_id`); `active_until` ≥ `active_from`. Send `Idempotency-Key` to make a retry safe."""

    async def create() -> StaffRead:
        return await service.create_staff(session, request, principal, body)

    return await idempotency.run(create, headers=lambda s: {"ETag": make_etag(s.id, s.version)})


@router.get("/staff/{staff_id}", response_model=StaffRead, summary="Get a staff member")
async def get_staff(
    session: DbSession, principal: AnyUser, staff_id: uuid.UUID, response: Response, year: Year = None
) -> StaffRead:
    """One staff member with `training_hours` of `year` (default this year) and its `ETag`.
    Staff of a site outside your scope answer 404 like a missing id."""
    staff = await service.get_staff(session, principal, staff_id)
    set_etag(response, staff.id, staff.version)
    return await service.read_staff(session, staff, year)


@router.patch("/staff/{staff_id}", response_model=StaffRead, summary="Change a staff member")
async def update_staff(
    request: Request,
    session: DbSession,
    principal: StaffWriter,
    staff_id: uuid.UUID,
    body: StaffUpdate,
    response: Response,
) -> StaffRead:
    """District, or the operator of the staff member's site. Needs `If-Match` (428 without, 412 if
    stale). An operator may move a person only to another site it operates (422 naming `site_id`)."""
    staff = await service.update_staff(session, request, principal, staff_id, body)
    set_etag(response, staff.id, staff.version)
    return staff


@router.get(
    "/staff/{staff_id}/trainings",
    response_model=Page[TrainingRead],
    summary="List a staff member's trainings",
)
async def list_trainings(
    session: DbSession,
    principal: AnyUser,
    staff_id: uuid.UUID,
    page: Pagination,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Only trainings of this year.")] = None,
) -> Page[TrainingRead]:
    """Trainings and continuing education (5.2.3) of one staff member, oldest first."""
    rows, cursor = await service.list_trainings(session, principal, staff_id, page, year)
    return Page(items=[TrainingRead.model_validate(t) for t in rows], next_cursor=cursor)


@router.post(
    "/staff/{staff_id}/trainings",
    response_model=TrainingRead,
    status_code=201,
    summary="Record a training",
)
async def add_training(
    request: Request,
    session: DbSession,
    principal: StaffWriter,
    staff_id: uuid.UUID,
    body: TrainingCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """District, or the operator of the staff member's site. `hours`: more than 0, at most 24, one
    decimal; `date` not in the future (Asia/Shanghai). Counts towards the 50 hours a year that 5.2.3
    asks of certified social workers."""

    async def create() -> TrainingRead:
        training = await service.add_training(session, request, principal, staff_id, body)
        return TrainingRead.model_validate(training)

    return await idempotency.run(create)
