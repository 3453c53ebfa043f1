"""`/cases` (个案, MZ/T 094) and `/groups` (小组, MZ/T 095) — 5.4.10; Table C.1 专业服务."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.activities import records
from services.activities.casework.schemas import (
    CaseCreate,
    CaseRead,
    CaseUpdate,
    GroupCreate,
    GroupRead,
    GroupUpdate,
)
from services.activities.casework.service import (
    CASE_CLIENT,
    CASES,
    GROUPS,
    create_case,
    create_group,
    update_case,
    update_group,
)
from services.activities.scope import Reader, Writer
from services.common.db import DbSession
from services.common.enums import CaseStage, TargetGroup
from services.common.etag import set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.common.timeutil import IsoDate

cases = APIRouter(prefix="/cases", tags=["cases and groups"])
groups = APIRouter(prefix="/groups", tags=["cases and groups"])
Case = CASES.model
Group = GROUPS.model

DateFrom = Annotated[IsoDate | None, Query(alias="from", description="Inclusive start date (`opened_on`)")]
DateTo = Annotated[IsoDate | None, Query(alias="to", description="Inclusive end date (`opened_on`)")]


# ---- cases -----------------------------------------------------------------------------------------


@cases.get("", response_model=Page[CaseRead], summary="List cases")
async def list_cases(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    target_group: TargetGroup | None = None,
    stage: CaseStage | None = None,
) -> Page[CaseRead]:
    """Cases of the sites you may see, oldest `opened_on` first. Client fields are masked for every
    role in a list (`张*`, `138****5678`) and null for evaluators."""
    filters = records.period_filters(CASES, date_from, date_to)
    if site_id is not None:
        filters.append(Case.site_id == site_id)
    if target_group is not None:
        filters.append(Case.target_group == target_group)
    if stage is not None:
        filters.append(Case.stage == stage)
    rows, cursor = await records.list_records(session, principal, CASES, page, filters)
    return Page(items=CASE_CLIENT.render_list(CaseRead, principal, rows), next_cursor=cursor)


@cases.post("", response_model=CaseRead, status_code=201, summary="Open a case")
async def open_case(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: CaseCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators record cases of their sites (the district of any site). `client_id_number` is
    accepted here and never returned: only its masked form (`3301**********1234`) is stored, with a
    keyed digest that recognises a returning client."""

    async def create() -> CaseRead:
        row = await create_case(session, request, principal, body)
        return CASE_CLIENT.render_written(CaseRead, principal, row)

    return await idempotency.run(create)


@cases.get("/{case_id}", response_model=CaseRead, summary="Get a case")
async def get_case(
    request: Request, session: DbSession, principal: Reader, case_id: uuid.UUID, response: Response
) -> CaseRead:
    """The site's operator and the district see the client unmasked (each such read is audited as
    `case.read_personal`); street and integration callers see it masked; evaluators not at all."""
    row = await records.get_record(session, principal, CASES, case_id)
    set_etag(response, row.id, row.version)
    return await CASE_CLIENT.render_single(session, request, principal, CaseRead, row)


@cases.patch("/{case_id}", response_model=CaseRead, summary="Update a case")
async def patch_case(
    request: Request,
    session: DbSession,
    principal: Writer,
    case_id: uuid.UUID,
    body: CaseUpdate,
    response: Response,
) -> CaseRead:
    """Needs `If-Match` with the case's ETag. Typically moves `stage` on, counts `sessions`, and
    sets `closed_on` (not before `opened_on`)."""
    row = await update_case(session, request, principal, case_id, body)
    set_etag(response, row.id, row.version)
    return CASE_CLIENT.render_written(CaseRead, principal, row)


@cases.delete("/{case_id}", status_code=204, summary="Delete a case")
async def delete_case(
    request: Request, session: DbSession, principal: Writer, case_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, CASES, case_id)
    return Response(status_code=204)


# ---- groups ----------------------------------------------------------------------------------------


@groups.get("", response_model=Page[GroupRead], summary="List groups")
async def list_groups(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    target_group: TargetGroup | None = None,
    stage: CaseStage | None = None,
) -> Page[GroupRead]:
    """Groups of the sites you may see, oldest `opened_on` first."""
    filters = records.period_filters(GROUPS, date_from, date_to)
    if site_id is not None:
        filters.append(Group.site_id == site_id)
    if target_group is not None:
        filters.append(Group.target_group == target_group)
    if stage is not None:
        filters.append(Group.stage == stage)
    rows, cursor = await records.list_records(session, principal, GROUPS, page, filters)
    return Page(items=[GroupRead.model_validate(r) for r in rows], next_cursor=cursor)


@groups.post("", response_model=GroupRead, status_code=201, summary="Open a group")
async def open_group(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: GroupCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators record groups of their sites (the district of any site)."""

    async def create() -> GroupRead:
        return GroupRead.model_validate(await create_group(session, request, principal, body))

    return await idempotency.run(create)


@groups.get("/{group_id}", response_model=GroupRead, summary="Get a group")
async def get_group(
    session: DbSession, principal: Reader, group_id: uuid.UUID, response: Response
) -> GroupRead:
    row = await records.get_record(session, principal, GROUPS, group_id)
    set_etag(response, row.id, row.version)
    return GroupRead.model_validate(row)


@groups.patch("/{group_id}", response_model=GroupRead, summary="Update a group")
async def patch_group(
    request: Request,
    session: DbSession,
    principal: Writer,
    group_id: uuid.UUID,
    body: GroupUpdate,
    response: Response,
) -> GroupRead:
    """Needs `If-Match` with the group's ETag; `closed_on` not before `opened_on`."""
    row = await update_group(session, request, principal, group_id, body)
    set_etag(response, row.id, row.version)
    return GroupRead.model_validate(row)


@groups.delete("/{group_id}", status_code=204, summary="Delete a group")
async def delete_group(
    request: Request, session: DbSession, principal: Writer, group_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, GROUPS, group_id)
    return Response(status_code=204)


router = APIRouter()
router.include_router(cases)
router.include_router(groups)
