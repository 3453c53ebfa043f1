"""`/activities` — activities of the ten service categories (5.4; Table C.1 主题活动)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.activities import records
from services.activities.activities import service
from services.activities.activities.schemas import ActivityCreate, ActivityRead, ActivityUpdate
from services.activities.activities.service import ACTIVITIES
from services.activities.scope import Reader, Writer
from services.common.db import DbSession
from services.common.enums import ServiceCategory
from services.common.etag import set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.common.timeutil import IsoDate

router = APIRouter(prefix="/activities", tags=["activities"])
Model = ACTIVITIES.model


@router.get("", response_model=Page[ActivityRead], summary="List activities")
async def list_activities(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: Annotated[
        IsoDate | None, Query(alias="from", description="First business date of `starts_at` (inclusive)")
    ] = None,
    date_to: Annotated[
        IsoDate | None, Query(alias="to", description="Last business date of `starts_at` (inclusive)")
    ] = None,
    category: ServiceCategory | None = None,
    is_theme: bool | None = None,
    min_attendance: Annotated[
        int | None, Query(ge=0, description="Only activities this large or larger")
    ] = None,
) -> Page[ActivityRead]:
    """Activities of the sites you may see, oldest first. `from`/`to` are business dates (Asia/Shanghai)
    of `starts_at`; e.g. `is_theme=true&min_attendance=50` lists the theme activities C15 counts."""
    filters = records.period_filters(ACTIVITIES, date_from, date_to)
    if site_id is not None:
        filters.append(Model.site_id == site_id)
    if category is not None:
        filters.append(Model.category == category)
    if is_theme is not None:
        filters.append(Model.is_theme == is_theme)
    if min_attendance is not None:
        filters.append(Model.attendance >= min_attendance)
    rows, cursor = await records.list_records(session, principal, ACTIVITIES, page, filters)
    return Page(items=[ActivityRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("", response_model=ActivityRead, status_code=201, summary="Record an activity")
async def create_activity(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: ActivityCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators record activities of their sites (the district for any site). `starts_at` and
    `ends_at` carry a UTC offset and may not lie in the future. A theme activity counts for C15
    (`counts_for_theme`) only with a `sign_in_sheet` and a `photo` among its `evidence`."""

    async def create() -> Response:
        row = await service.create_activity(session, request, principal, body)
        # Serialised once here (the idempotency record stores these bytes as they are).
        return Response(
            ActivityRead.model_validate(row).model_dump_json(), status_code=201, media_type="application/json"
        )

    return await idempotency.run(create)


@router.get("/{activity_id:uuid}", response_model=ActivityRead, summary="Get an activity")
async def get_activity(
    session: DbSession, principal: Reader, activity_id: uuid.UUID, response: Response
) -> ActivityRead:
    """The activity with its `ETag` (send it back as `If-Match` to change or delete it)."""
    row = await records.get_record(session, principal, ACTIVITIES, activity_id)
    set_etag(response, row.id, row.version)
    return ActivityRead.model_validate(row)


@router.patch("/{activity_id:uuid}", response_model=ActivityRead, summary="Update an activity")
async def update_activity(
    request: Request,
    session: DbSession,
    principal: Writer,
    activity_id: uuid.UUID,
    body: ActivityUpdate,
    response: Response,
) -> ActivityRead:
    """Needs `If-Match`. Lists (`evidence`, `target_groups`, `partner_org_ids`) are replaced whole;
    typically used to attach the sign-in sheet and photos after the event."""
    row = await service.update_activity(session, request, principal, activity_id, body)
    set_etag(response, row.id, row.version)
    return ActivityRead.model_validate(row)


@router.delete("/{activity_id:uuid}", status_code=204, summary="Delete an activity")
async def delete_activity(
    request: Request, session: DbSession, principal: Writer, activity_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, ACTIVITIES, activity_id)
    return Response(status_code=204)
