"""`/deliberations` — 协商议事 records (5.4.8; Table C.1 民主协商)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.activities import records
from services.activities.deliberations.schemas import DeliberationCreate, DeliberationRead, DeliberationUpdate
from services.activities.deliberations.service import DELIBERATIONS
from services.activities.scope import Reader, Writer
from services.common.db import DbSession
from services.common.enums import DeliberationForm, ExecutionStatus
from services.common.etag import set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.common.timeutil import IsoDate

router = APIRouter(prefix="/deliberations", tags=["deliberations"])
Model = DELIBERATIONS.model


@router.get("", response_model=Page[DeliberationRead], summary="List deliberations")
async def list_deliberations(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
    form: DeliberationForm | None = None,
    execution_status: ExecutionStatus | None = None,
) -> Page[DeliberationRead]:
    """Deliberations of the sites you may see, oldest first; `from`/`to` are inclusive dates of `held_on`."""
    filters = records.period_filters(DELIBERATIONS, date_from, date_to)
    if site_id is not None:
        filters.append(Model.site_id == site_id)
    if form is not None:
        filters.append(Model.form == form)
    if execution_status is not None:
        filters.append(Model.execution_status == execution_status)
    rows, cursor = await records.list_records(session, principal, DELIBERATIONS, page, filters)
    return Page(items=[DeliberationRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("", response_model=DeliberationRead, status_code=201, summary="Record a deliberation")
async def create_deliberation(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: DeliberationCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators record for their sites; `complete` is true once rules, resolution and execution
    (`execution_status: done`) are recorded — only complete deliberations earn C17 points."""

    async def create() -> DeliberationRead:
        row = await records.create_record(session, request, principal, DELIBERATIONS, body.model_dump())
        return DeliberationRead.model_validate(row)

    return await idempotency.run(create)


@router.get("/{deliberation_id}", response_model=DeliberationRead, summary="Get a deliberation")
async def get_deliberation(
    session: DbSession, principal: Reader, deliberation_id: uuid.UUID, response: Response
) -> DeliberationRead:
    row = await records.get_record(session, principal, DELIBERATIONS, deliberation_id)
    set_etag(response, row.id, row.version)
    return DeliberationRead.model_validate(row)


@router.patch("/{deliberation_id}", response_model=DeliberationRead, summary="Update a deliberation")
async def update_deliberation(
    request: Request,
    session: DbSession,
    principal: Writer,
    deliberation_id: uuid.UUID,
    body: DeliberationUpdate,
    response: Response,
) -> DeliberationRead:
    """Needs `If-Match` with the record's ETag. Typically used to record the execution later."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    row = await records.update_record(session, request, principal, DELIBERATIONS, deliberation_id, changes)
    set_etag(response, row.id, row.version)
    return DeliberationRead.model_validate(row)


@router.delete("/{deliberation_id}", status_code=204, summary="Delete a deliberation")
async def delete_deliberation(
    request: Request, session: DbSession, principal: Writer, deliberation_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, DELIBERATIONS, deliberation_id)
    return Response(status_code=204)
