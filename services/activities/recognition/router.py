"""`/brand-projects` and `/recognitions` — 品牌成效, 媒体报道, 荣誉表彰 (Table C.1 C19–C21)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from services.activities import records
from services.activities.recognition.schemas import (
    BrandProjectCreate,
    BrandProjectRead,
    BrandProjectUpdate,
    RecognitionCreate,
    RecognitionRead,
    RecognitionUpdate,
)
from services.activities.recognition.service import BRAND_PROJECTS, RECOGNITIONS
from services.activities.records import DateFrom, DateTo
from services.activities.scope import Reader, Writer
from services.common.db import DbSession
from services.common.enums import BrandProjectKind, RecognitionKind, RecognitionLevel
from services.common.etag import set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination

brand_projects = APIRouter(prefix="/brand-projects", tags=["brand and recognition"])
recognitions = APIRouter(prefix="/recognitions", tags=["brand and recognition"])
Project = BRAND_PROJECTS.model
Recognition = RECOGNITIONS.model


# ---- brand projects --------------------------------------------------------------------------------


@brand_projects.get("", response_model=Page[BrandProjectRead], summary="List brand projects")
async def list_brand_projects(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    kind: BrandProjectKind | None = None,
    implemented: bool | None = None,
) -> Page[BrandProjectRead]:
    """Brand work of the sites you may see, oldest first; `from`/`to` are inclusive dates of `started_on`."""
    filters = records.period_filters(BRAND_PROJECTS, date_from, date_to)
    if site_id is not None:
        filters.append(Project.site_id == site_id)
    if kind is not None:
        filters.append(Project.kind == kind)
    if implemented is not None:
        filters.append(Project.implemented == implemented)
    rows, cursor = await records.list_records(session, principal, BRAND_PROJECTS, page, filters)
    return Page(items=[BrandProjectRead.model_validate(r) for r in rows], next_cursor=cursor)


@brand_projects.post("", response_model=BrandProjectRead, status_code=201, summary="Record a brand project")
async def create_brand_project(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: BrandProjectCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """C19 (品牌成效): an `overall_brand` earns 2 points; each `service_project` that is `implemented`
    earns 2.5 (at most 5)."""

    async def create() -> BrandProjectRead:
        row = await records.create_record(session, request, principal, BRAND_PROJECTS, body.model_dump())
        return BrandProjectRead.model_validate(row)

    return await idempotency.run(create)


@brand_projects.get("/{project_id}", response_model=BrandProjectRead, summary="Get a brand project")
async def get_brand_project(
    session: DbSession, principal: Reader, project_id: uuid.UUID, response: Response
) -> BrandProjectRead:
    row = await records.get_record(session, principal, BRAND_PROJECTS, project_id)
    set_etag(response, row.id, row.version)
    return BrandProjectRead.model_validate(row)


@brand_projects.patch("/{project_id}", response_model=BrandProjectRead, summary="Update a brand project")
async def update_brand_project(
    request: Request,
    session: DbSession,
    principal: Writer,
    project_id: uuid.UUID,
    body: BrandProjectUpdate,
    response: Response,
) -> BrandProjectRead:
    """Needs `If-Match` with the record's ETag (e.g. to mark a project `implemented`)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    row = await records.update_record(session, request, principal, BRAND_PROJECTS, project_id, changes)
    set_etag(response, row.id, row.version)
    return BrandProjectRead.model_validate(row)


@brand_projects.delete("/{project_id}", status_code=204, summary="Delete a brand project")
async def delete_brand_project(
    request: Request, session: DbSession, principal: Writer, project_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, BRAND_PROJECTS, project_id)
    return Response(status_code=204)


# ---- recognitions ----------------------------------------------------------------------------------


@recognitions.get("", response_model=Page[RecognitionRead], summary="List recognitions")
async def list_recognitions(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    kind: RecognitionKind | None = None,
    level: RecognitionLevel | None = None,
) -> Page[RecognitionRead]:
    """Exchanges and leadership instructions, media reports and honours of the sites you may see,
    oldest first; `from`/`to` are inclusive dates of `date`."""
    filters = records.period_filters(RECOGNITIONS, date_from, date_to)
    if site_id is not None:
        filters.append(Recognition.site_id == site_id)
    if kind is not None:
        filters.append(Recognition.kind == kind)
    if level is not None:
        filters.append(Recognition.level == level)
    rows, cursor = await records.list_records(session, principal, RECOGNITIONS, page, filters)
    return Page(items=[RecognitionRead.model_validate(r) for r in rows], next_cursor=cursor)


@recognitions.post("", response_model=RecognitionRead, status_code=201, summary="Record a recognition")
async def create_recognition(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: RecognitionCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """`exchange` (经验交流/领导批示) and `media` (媒体报道) feed C20, `honour` (荣誉表彰) C21: per kind
    only the highest level counts (city 1, province 2, national 3; district 0)."""

    async def create() -> RecognitionRead:
        row = await records.create_record(session, request, principal, RECOGNITIONS, body.model_dump())
        return RecognitionRead.model_validate(row)

    return await idempotency.run(create)


@recognitions.get("/{recognition_id}", response_model=RecognitionRead, summary="Get a recognition")
async def get_recognition(
    session: DbSession, principal: Reader, recognition_id: uuid.UUID, response: Response
) -> RecognitionRead:
    row = await records.get_record(session, principal, RECOGNITIONS, recognition_id)
    set_etag(response, row.id, row.version)
    return RecognitionRead.model_validate(row)


@recognitions.patch("/{recognition_id}", response_model=RecognitionRead, summary="Update a recognition")
async def update_recognition(
    request: Request,
    session: DbSession,
    principal: Writer,
    recognition_id: uuid.UUID,
    body: RecognitionUpdate,
    response: Response,
) -> RecognitionRead:
    """Needs `If-Match` with the record's ETag. `evidence`, when given, replaces the whole list."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    row = await records.update_record(session, request, principal, RECOGNITIONS, recognition_id, changes)
    set_etag(response, row.id, row.version)
    return RecognitionRead.model_validate(row)


@recognitions.delete("/{recognition_id}", status_code=204, summary="Delete a recognition")
async def delete_recognition(
    request: Request, session: DbSession, principal: Writer, recognition_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, RECOGNITIONS, recognition_id)
    return Response(status_code=204)


router = APIRouter()
router.include_router(brand_projects)
router.include_router(recognitions)
