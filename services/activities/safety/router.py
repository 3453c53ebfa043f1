"""`/safety-trainings` and `/safety-patrols` — 安全防范 (6.1.4; Table C.1 安全制度)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from services.activities import records
from services.activities.records import DateFrom, DateTo
from services.activities.safety.schemas import (
    HazardRectify,
    SafetyPatrolCreate,
    SafetyPatrolRead,
    SafetyPatrolUpdate,
    SafetyTrainingCreate,
    SafetyTrainingRead,
    SafetyTrainingUpdate,
)
from services.activities.safety.service import (
    SAFETY_PATROLS,
    SAFETY_TRAININGS,
    create_patrol,
    patrol_read,
    rectify_hazard,
    update_patrol,
)
from services.activities.scope import Reader, Writer
from services.common.db import DbSession
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination

trainings = APIRouter(prefix="/safety-trainings", tags=["safety"])
patrols = APIRouter(prefix="/safety-patrols", tags=["safety"])
Training = SAFETY_TRAININGS.model
Patrol = SAFETY_PATROLS.model


# ---- trainings -------------------------------------------------------------------------------------


@trainings.get("", response_model=Page[SafetyTrainingRead], summary="List safety trainings")
async def list_safety_trainings(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    has_record: bool | None = None,
) -> Page[SafetyTrainingRead]:
    """Fire-safety trainings (消防安全教育培训) of the sites you may see, oldest first; `from`/`to` are
    inclusive dates of `held_on`."""
    filters = records.period_filters(SAFETY_TRAININGS, date_from, date_to)
    if site_id is not None:
        filters.append(Training.site_id == site_id)
    if has_record is not None:
        filters.append(Training.has_record == has_record)
    rows, cursor = await records.list_records(session, principal, SAFETY_TRAININGS, page, filters)
    return Page(items=[SafetyTrainingRead.model_validate(r) for r in rows], next_cursor=cursor)


@trainings.post("", response_model=SafetyTrainingRead, status_code=201, summary="Record a safety training")
async def create_safety_training(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: SafetyTrainingCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators record for their sites. C10 (安全制度) gives 1 point for regular trainings, 0.5 less
    when records are incomplete (`has_record: false`)."""

    async def create() -> SafetyTrainingRead:
        row = await records.create_record(session, request, principal, SAFETY_TRAININGS, body.model_dump())
        return SafetyTrainingRead.model_validate(row)

    return await idempotency.run(create)


@trainings.get("/{training_id}", response_model=SafetyTrainingRead, summary="Get a safety training")
async def get_safety_training(
    session: DbSession, principal: Reader, training_id: uuid.UUID, response: Response
) -> SafetyTrainingRead:
    row = await records.get_record(session, principal, SAFETY_TRAININGS, training_id)
    set_etag(response, row.id, row.version)
    return SafetyTrainingRead.model_validate(row)


@trainings.patch("/{training_id}", response_model=SafetyTrainingRead, summary="Update a safety training")
async def update_safety_training(
    request: Request,
    session: DbSession,
    principal: Writer,
    training_id: uuid.UUID,
    body: SafetyTrainingUpdate,
    response: Response,
) -> SafetyTrainingRead:
    """Needs `If-Match` with the record's ETag."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    row = await records.update_record(session, request, principal, SAFETY_TRAININGS, training_id, changes)
    set_etag(response, row.id, row.version)
    return SafetyTrainingRead.model_validate(row)


@trainings.delete("/{training_id}", status_code=204, summary="Delete a safety training")
async def delete_safety_training(
    request: Request, session: DbSession, principal: Writer, training_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, SAFETY_TRAININGS, training_id)
    return Response(status_code=204)


# ---- patrols ---------------------------------------------------------------------------------------


@patrols.get("", response_model=Page[SafetyPatrolRead], summary="List safety patrols")
async def list_safety_patrols(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    has_record: bool | None = None,
) -> Page[SafetyPatrolRead]:
    """Fire-safety patrols (消防安全巡查) with their hazards, oldest first; `from`/`to` are inclusive
    dates of `patrolled_on`. Each hazard carries `overdue` (not fixed by its due date)."""
    filters = records.period_filters(SAFETY_PATROLS, date_from, date_to)
    if site_id is not None:
        filters.append(Patrol.site_id == site_id)
    if has_record is not None:
        filters.append(Patrol.has_record == has_record)
    rows, cursor = await records.list_records(session, principal, SAFETY_PATROLS, page, filters)
    return Page(items=[patrol_read(r) for r in rows], next_cursor=cursor)


@patrols.post("", response_model=SafetyPatrolRead, status_code=201, summary="Record a safety patrol")
async def create_safety_patrol(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: SafetyPatrolCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators record for their sites, with the hazards found (`due_on`, optionally `rectified_on`,
    neither before the patrol). C10 deducts 0.5 per hazard not fixed by its due date."""

    async def create() -> SafetyPatrolRead:
        return patrol_read(await create_patrol(session, request, principal, body))

    return await idempotency.run(create)


@patrols.get("/{patrol_id}", response_model=SafetyPatrolRead, summary="Get a safety patrol")
async def get_safety_patrol(
    session: DbSession, principal: Reader, patrol_id: uuid.UUID, response: Response
) -> SafetyPatrolRead:
    row = await records.get_record(session, principal, SAFETY_PATROLS, patrol_id)
    set_etag(response, row.id, row.version)
    return patrol_read(row)


@patrols.patch("/{patrol_id}", response_model=SafetyPatrolRead, summary="Update a safety patrol")
async def update_safety_patrol(
    request: Request,
    session: DbSession,
    principal: Writer,
    patrol_id: uuid.UUID,
    body: SafetyPatrolUpdate,
    response: Response,
) -> SafetyPatrolRead:
    """Needs `If-Match` with the record's ETag. `hazards`, when given, replaces the whole list; to mark
    one hazard fixed use `POST /safety-patrols/{id}/hazards/{n}/rectify`."""
    row = await update_patrol(session, request, principal, patrol_id, body)
    set_etag(response, row.id, row.version)
    return patrol_read(row)


@patrols.delete("/{patrol_id}", status_code=204, summary="Delete a safety patrol")
async def delete_safety_patrol(
    request: Request, session: DbSession, principal: Writer, patrol_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, SAFETY_PATROLS, patrol_id)
    return Response(status_code=204)


@patrols.post(
    "/{patrol_id}/hazards/{index}/rectify", response_model=SafetyPatrolRead, summary="Mark a hazard fixed"
)
async def rectify_safety_hazard(
    request: Request,
    session: DbSession,
    principal: Writer,
    patrol_id: uuid.UUID,
    index: int,
    idempotency: IdempotencyGuard,
    body: HazardRectify | None = None,
) -> Response:
    """Records that hazard `index` (0-based, as listed in `hazards`) was fixed on `rectified_on`
    (default today, Asia/Shanghai; not in the future, not before the patrol). No `If-Match` needed.
    Unknown index → 404 `hazard_not_found`; already fixed → 409 `hazard_already_rectified`.
    Returns the patrol with its new ETag."""

    etag: dict[str, str] = {}

    async def rectify() -> SafetyPatrolRead:
        day = body.rectified_on if body is not None else None
        row = await rectify_hazard(session, request, principal, patrol_id, index, day)
        etag["ETag"] = make_etag(row.id, row.version)
        return patrol_read(row)

    return await idempotency.run(rectify, status_code=200, headers=lambda _: etag)


router = APIRouter()
router.include_router(trainings)
router.include_router(patrols)
