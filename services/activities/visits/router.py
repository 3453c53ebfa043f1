"""`/visits` — 流量及诉求登记 (6.1.3): who came to a site, how many, and what they asked for."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.activities import records
from services.activities.scope import Reader, Writer
from services.activities.visits.schemas import VisitCreate, VisitRead, VisitUpdate
from services.activities.visits.service import VISITOR, VISITS, create_visit, update_visit
from services.common.db import DbSession
from services.common.etag import set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.common.timeutil import IsoDate

router = APIRouter(prefix="/visits", tags=["visits"])
Visit = VISITS.model


@router.get("", response_model=Page[VisitRead], summary="List visits")
async def list_visits(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    date_from: Annotated[
        IsoDate | None, Query(alias="from", description="Inclusive date (Asia/Shanghai)")
    ] = None,
    date_to: Annotated[
        IsoDate | None, Query(alias="to", description="Inclusive date (Asia/Shanghai)")
    ] = None,
) -> Page[VisitRead]:
    """Visits of the sites you may see, oldest first. Visitor fields are masked for every role in a list."""
    filters = records.period_filters(VISITS, date_from, date_to)
    if site_id is not None:
        filters.append(Visit.site_id == site_id)
    rows, cursor = await records.list_records(session, principal, VISITS, page, filters)
    return Page(items=VISITOR.render_list(VisitRead, principal, rows), next_cursor=cursor)


@router.post("", response_model=VisitRead, status_code=201, summary="Register a visit")
async def register_visit(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: VisitCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Operators register visits to their sites. `visitor_id_number` is input only: it is stored
    masked (`3301**********1234`) and never returned whole."""

    async def create() -> VisitRead:
        row = await create_visit(session, request, principal, body)
        return VISITOR.render_written(VisitRead, principal, row)

    return await idempotency.run(create)


@router.get("/{visit_id}", response_model=VisitRead, summary="Get a visit")
async def get_visit(
    request: Request, session: DbSession, principal: Reader, visit_id: uuid.UUID, response: Response
) -> VisitRead:
    """The site's operator and the district see the visitor unmasked (audited as
    `visit.read_personal`); every other role sees it masked."""
    row = await records.get_record(session, principal, VISITS, visit_id)
    set_etag(response, row.id, row.version)
    return await VISITOR.render_single(session, request, principal, VisitRead, row)


@router.patch("/{visit_id}", response_model=VisitRead, summary="Update a visit")
async def patch_visit(
    request: Request,
    session: DbSession,
    principal: Writer,
    visit_id: uuid.UUID,
    body: VisitUpdate,
    response: Response,
) -> VisitRead:
    """Needs `If-Match` with the visit's ETag."""
    row = await update_visit(session, request, principal, visit_id, body)
    set_etag(response, row.id, row.version)
    return VISITOR.render_written(VisitRead, principal, row)


@router.delete("/{visit_id}", status_code=204, summary="Delete a visit")
async def delete_visit(
    request: Request, session: DbSession, principal: Writer, visit_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. The deleted record stays in the audit log."""
    await records.delete_record(session, request, principal, VISITS, visit_id)
    return Response(status_code=204)
