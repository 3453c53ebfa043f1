"""`/volunteers` (在册志愿者) and `/volunteer-hours` (志愿服务时数) — Table C.1 志愿者."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.activities import records
from services.activities.records import DateFrom, DateTo
from services.activities.scope import Reader, Writer
from services.activities.volunteers.schemas import (
    VolunteerCreate,
    VolunteerHoursCreate,
    VolunteerHoursRead,
    VolunteerHoursUpdate,
    VolunteerRead,
    VolunteerUpdate,
)
from services.activities.volunteers.service import (
    NO_HOURS,
    VOLUNTEER,
    VOLUNTEER_HOURS,
    VOLUNTEERS,
    create_hours,
    create_volunteer,
    delete_volunteer,
    hours_totals,
    update_hours,
    update_volunteer,
)
from services.common.db import DbSession
from services.common.etag import set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.common.timeutil import IsoDate

volunteers = APIRouter(prefix="/volunteers", tags=["volunteers"])
volunteer_hours = APIRouter(prefix="/volunteer-hours", tags=["volunteers"])
Volunteer = VOLUNTEERS.model
Hours = VOLUNTEER_HOURS.model


# ---- volunteers ------------------------------------------------------------------------------------


@volunteers.get("", response_model=Page[VolunteerRead], summary="List volunteers")
async def list_volunteers(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: Annotated[IsoDate | None, Query(alias="from", description="Registered on or after")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to", description="Registered on or before")] = None,
) -> Page[VolunteerRead]:
    """The volunteer rosters of the sites you may see, oldest registration first, each with the
    total of its recorded hours. Names and phones are masked for every role in a list."""
    filters = records.period_filters(VOLUNTEERS, date_from, date_to)
    if site_id is not None:
        filters.append(Volunteer.site_id == site_id)
    rows, cursor = await records.list_records(session, principal, VOLUNTEERS, page, filters)
    totals = await hours_totals(session, [r.id for r in rows])
    extra = {volunteer_id: {"hours_total": total} for volunteer_id, total in totals.items()}
    return Page(items=VOLUNTEER.render_list(VolunteerRead, principal, rows, extra), next_cursor=cursor)


@volunteers.post("", response_model=VolunteerRead, status_code=201, summary="Register a volunteer")
async def register_volunteer(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: VolunteerCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators keep the rosters of their sites (the district of any site)."""

    async def create() -> VolunteerRead:
        row = await create_volunteer(session, request, principal, body)
        return VOLUNTEER.render_written(VolunteerRead, principal, row, hours_total=NO_HOURS)

    return await idempotency.run(create)


@volunteers.get("/{volunteer_id}", response_model=VolunteerRead, summary="Get a volunteer")
async def get_volunteer(
    request: Request, session: DbSession, principal: Reader, volunteer_id: uuid.UUID, response: Response
) -> VolunteerRead:
    """The site's operator and the district see name and phone unmasked (audited as
    `volunteer.read_personal`); every other role sees them masked."""
    row = await records.get_record(session, principal, VOLUNTEERS, volunteer_id)
    set_etag(response, row.id, row.version)
    total = (await hours_totals(session, [row.id]))[row.id]
    return await VOLUNTEER.render_single(session, request, principal, VolunteerRead, row, hours_total=total)


@volunteers.patch("/{volunteer_id}", response_model=VolunteerRead, summary="Update a volunteer")
async def patch_volunteer(
    request: Request,
    session: DbSession,
    principal: Writer,
    volunteer_id: uuid.UUID,
    body: VolunteerUpdate,
    response: Response,
) -> VolunteerRead:
    """Needs `If-Match` with the volunteer's ETag."""
    row = await update_volunteer(session, request, principal, volunteer_id, body)
    set_etag(response, row.id, row.version)
    total = (await hours_totals(session, [row.id]))[row.id]
    return VOLUNTEER.render_written(VolunteerRead, principal, row, hours_total=total)


@volunteers.delete("/{volunteer_id}", status_code=204, summary="Remove a volunteer")
async def remove_volunteer(
    request: Request, session: DbSession, principal: Writer, volunteer_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. A volunteer with recorded hours cannot be removed (409 `volunteer_has_hours`)."""
    await delete_volunteer(session, request, principal, volunteer_id)
    return Response(status_code=204)


# ---- hours -----------------------------------------------------------------------------------------


@volunteer_hours.get("", response_model=Page[VolunteerHoursRead], summary="List volunteer hours")
async def list_volunteer_hours(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    volunteer_id: uuid.UUID | None = None,
    activity_id: uuid.UUID | None = None,
) -> Page[VolunteerHoursRead]:
    """Hours served at the sites you may see, oldest `date` first."""
    filters = records.period_filters(VOLUNTEER_HOURS, date_from, date_to)
    if site_id is not None:
        filters.append(Hours.site_id == site_id)
    if volunteer_id is not None:
        filters.append(Hours.volunteer_id == volunteer_id)
    if activity_id is not None:
        filters.append(Hours.activity_id == activity_id)
    rows, cursor = await records.list_records(session, principal, VOLUNTEER_HOURS, page, filters)
    return Page(items=[VolunteerHoursRead.model_validate(r) for r in rows], next_cursor=cursor)


@volunteer_hours.post(
    "", response_model=VolunteerHoursRead, status_code=201, summary="Record volunteer hours"
)
async def record_volunteer_hours(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: VolunteerHoursCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Hours a volunteer served on `date` (at `activity_id`, an activity of the same site, if given).
    The record belongs to the volunteer's site; a `volunteer_id` that is not a volunteer of a site you
    may write for → 422 naming it. One volunteer's hours on one day never exceed 24 in total
    (409 `volunteer_day_over_24h`)."""

    async def create() -> VolunteerHoursRead:
        return VolunteerHoursRead.model_validate(await create_hours(session, request, principal, body))

    return await idempotency.run(create)


@volunteer_hours.get("/{hours_id}", response_model=VolunteerHoursRead, summary="Get a volunteer hours record")
async def get_volunteer_hours(
    session: DbSession, principal: Reader, hours_id: uuid.UUID, response: Response
) -> VolunteerHoursRead:
    row = await records.get_record(session, principal, VOLUNTEER_HOURS, hours_id)
    set_etag(response, row.id, row.version)
    return VolunteerHoursRead.model_validate(row)


@volunteer_hours.patch(
    "/{hours_id}", response_model=VolunteerHoursRead, summary="Correct a volunteer hours record"
)
async def patch_volunteer_hours(
    request: Request,
    session: DbSession,
    principal: Writer,
    hours_id: uuid.UUID,
    body: VolunteerHoursUpdate,
    response: Response,
) -> VolunteerHoursRead:
    """Needs `If-Match`. The 24-hour day rule applies to the corrected date and hours."""
    row = await update_hours(session, request, principal, hours_id, body)
    set_etag(response, row.id, row.version)
    return VolunteerHoursRead.model_validate(row)


@volunteer_hours.delete("/{hours_id}", status_code=204, summary="Delete a volunteer hours record")
async def delete_volunteer_hours(
    request: Request, session: DbSession, principal: Writer, hours_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, VOLUNTEER_HOURS, hours_id)
    return Response(status_code=204)


router = APIRouter()
router.include_router(volunteers)
router.include_router(volunteer_hours)
