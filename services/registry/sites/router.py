"""`/sites`: the registry of community good-life hubs (社区美好生活共同体, SPEC §4)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.responses import StreamingResponse

from services.common.auth import AnyUser, Principal, require_roles
from services.common.db import DbSession
from services.common.enums import ExportFormat, OperatingMode, SiteOrgRelation, SiteStatus, Tier
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.registry.sites import export, listing, service
from services.registry.sites.schemas import (
    FunctionAreasPut,
    FunctionAreasRead,
    SafetyPut,
    SafetyRead,
    SiteCreate,
    SiteFilters,
    SiteOrganizationCreate,
    SiteOrganizationRead,
    SiteRead,
    SiteUpdate,
    safety_read,
)

router = APIRouter(tags=["sites"])

# Who may call what (issue 3, "Who may do what"); object scope is services.registry.scope.
SiteReader = AnyUser
SiteCreator = Annotated[Principal, Depends(require_roles("district", "street"))]
SiteEditor = Annotated[Principal, Depends(require_roles("district", "street", "operator"))]
LinkEditor = Annotated[Principal, Depends(require_roles("district", "street"))]


async def site_filters(  # async: FastAPI runs a plain `def` dependency in a worker thread
    street_id: uuid.UUID | None = None,
    community_id: uuid.UUID | None = None,
    status: SiteStatus | None = None,
    tier: Tier | None = None,
    operating_mode: OperatingMode | None = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Case-insensitive search in name, code and address."),
    ] = None,
) -> SiteFilters:
    return SiteFilters(
        street_id=street_id,
        community_id=community_id,
        status=status,
        tier=tier,
        operating_mode=operating_mode,
        q=q.strip() if q else None,
    )


Filters = Annotated[SiteFilters, Depends(site_filters)]


@router.get("/sites", response_model=Page[SiteRead], summary="List sites (社区美好生活共同体)")
async def list_sites(request: Request, principal: SiteReader, filters: Filters, page: Pagination) -> Response:
    """The sites you may see — district and integration: all; street: its street's; operator: the
    sites its organisation holds a contract for that is active today; evaluator: the sites of its
    assignments. Filters narrow that set (a `street_id` outside your scope gives an empty list).
    Ordered by `code`."""
    # The JSON of Page[SiteRead], built once (no second validation by FastAPI); see listing.py.
    body = await listing.list_sites_json(request.app, principal, filters, page)
    return Response(body, media_type="application/json")


# Registered before /sites/{site_id} so that "export" is not read as an id.
@router.get(
    "/sites/export",
    summary="Download the sites as CSV or Excel",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The spreadsheet",
            "content": {export.CSV_MEDIA_TYPE: {}, export.XLSX_MEDIA_TYPE: {}},
        }
    },
)
async def export_sites(
    session: DbSession,
    principal: SiteReader,
    filters: Filters,
    export_format: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.CSV,
) -> StreamingResponse:
    """The same sites as `GET /sites` (same filters, same scope), all pages at once, with Chinese
    column headers and labels (名称, 编码, 街道, 社区, 地址, 状态, 运营方式, 面积(㎡), 每日开放时长,
    每周开放天数, 评级 …) for officials who work in spreadsheets. `format=csv` (UTF-8 with BOM, opens
    directly in Excel) or `format=xlsx`."""
    rows = await service.export_rows(session, principal, filters)
    return export.export_response(rows, export_format)


@router.post("/sites", response_model=SiteRead, status_code=201, summary="Register a site")
async def create_site(
    request: Request,
    session: DbSession,
    principal: SiteCreator,
    body: SiteCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """District: in any street; street: in its own street only (another `street_id` → 422).
    `community_id` must belong to `street_id`; `code` is unique (409 `site_code_taken`).
    Coordinates must lie inside China. `tier` is never accepted here (403 `field_not_writable`).
    Send `Idempotency-Key` to make a retry safe. The response carries the `ETag`."""

    async def create() -> SiteRead:
        return SiteRead.from_site(await service.create_site(session, request, principal, body))

    return await idempotency.run(create, headers=lambda site: {"ETag": make_etag(site.id, site.version)})


@router.get("/sites/{site_id}", response_model=SiteRead, summary="Get a site")
async def get_site(
    session: DbSession, principal: SiteReader, site_id: uuid.UUID, response: Response
) -> SiteRead:
    """One site with its opening hours (and derived `hours_per_day`, `days_per_week`), signage,
    function areas (4.3.1) and safety checklist (4.2.1). Send the `ETag` back as `If-Match` to
    change it. A site outside your scope answers 404 like a missing one."""
    site = await service.get_site(session, principal, site_id)
    set_etag(response, site.id, site.version)
    return SiteRead.from_site(site)


@router.patch("/sites/{site_id}", response_model=SiteRead, summary="Change a site")
async def update_site(
    request: Request,
    session: DbSession,
    principal: SiteEditor,
    site_id: uuid.UUID,
    body: SiteUpdate,
    response: Response,
) -> SiteRead:
    """Needs `If-Match` (428 without, 412 when stale). District: any site; street: its street's
    sites, and it may not move one to another street (422 `street_id`); operator: only
    `opening_hours`, `function_areas` and `safety` of the sites it operates — any other field
    answers 403 `field_not_writable` naming it, and nothing is changed. Nobody writes `tier` here
    (set by the evaluation service, Annex A)."""
    site = await service.update_site(session, request, principal, site_id, body)
    set_etag(response, site.id, site.version)
    return SiteRead.from_site(site)


@router.get(
    "/sites/{site_id}/function-areas",
    response_model=FunctionAreasRead,
    summary="Get a site's function areas",
)
async def get_function_areas(
    session: DbSession, principal: SiteReader, site_id: uuid.UUID, response: Response
) -> FunctionAreasRead:
    """The function areas of the site (4.3.1, 4.3.2) with the attributes Table C.1 inspects. The
    `ETag` is the site's."""
    site = await service.get_site(session, principal, site_id)
    set_etag(response, site.id, site.version)
    read = SiteRead.from_site(site)
    return FunctionAreasRead(site_id=site.id, version=site.version, items=read.function_areas)


@router.put(
    "/sites/{site_id}/function-areas",
    response_model=FunctionAreasRead,
    summary="Replace a site's function areas",
)
async def put_function_areas(
    request: Request,
    session: DbSession,
    principal: SiteEditor,
    site_id: uuid.UUID,
    body: FunctionAreasPut,
    response: Response,
) -> FunctionAreasRead:
    """Replaces the whole list. Each area has a `kind` (`function_area_kind`) and the attributes
    the rubric inspects for that kind: `one_stop_office` 一滨办 (`tricolor_sign`,
    `decoration_colors`, `floor_material`, `desk_unobstructed`; C07), `deliberation_hall`
    (`wall_wood_or_marble`, `floor_material`; C06), `elderly_center` (`slip_rating`, `warm_walls`;
    C05), `children_room` (`soft_floor`, `science_art_programs`; C05), `custom` 特色服务 (4.3.2,
    `name` required); every kind takes an optional `name` and `area_m2`. Needs the site's ETag as
    `If-Match`; bumps the site's version. District, the site's street, or its operator."""
    documents = [area.model_dump(mode="json") for area in body.items]
    site = await service.replace_document(session, request, principal, site_id, "function_areas", documents)
    set_etag(response, site.id, site.version)
    read = SiteRead.from_site(site)
    return FunctionAreasRead(site_id=site.id, version=site.version, items=read.function_areas)


@router.get("/sites/{site_id}/safety", response_model=SafetyRead, summary="Get a site's safety checklist")
async def get_safety(
    session: DbSession, principal: SiteReader, site_id: uuid.UUID, response: Response
) -> SafetyRead:
    """The basic safety checklist (4.2.1): each item (`safety_item`) with `present`, `checked_on`
    and the national standard it must meet (GB 2894, GB 13495.1, GB 50763)."""
    site = await service.get_site(session, principal, site_id)
    set_etag(response, site.id, site.version)
    return SafetyRead(site_id=site.id, version=site.version, items=safety_read(site.safety or []))


@router.put("/sites/{site_id}/safety", response_model=SafetyRead, summary="Replace a site's safety checklist")
async def put_safety(
    request: Request,
    session: DbSession,
    principal: SiteEditor,
    site_id: uuid.UUID,
    body: SafetyPut,
    response: Response,
) -> SafetyRead:
    """Replaces the whole checklist (4.2.1); each item at most once, `checked_on` not in the future.
    Needs the site's ETag as `If-Match`; bumps the site's version. District, the site's street, or
    its operator."""
    documents = service.safety_documents(body.items, "items")
    site = await service.replace_document(session, request, principal, site_id, "safety", documents)
    set_etag(response, site.id, site.version)
    return SafetyRead(site_id=site.id, version=site.version, items=safety_read(site.safety or []))


@router.get(
    "/sites/{site_id}/organizations",
    response_model=Page[SiteOrganizationRead],
    summary="Organisations linked to a site",
)
async def list_site_organizations(
    session: DbSession,
    principal: SiteReader,
    site_id: uuid.UUID,
    page: Pagination,
    relation: SiteOrgRelation | None = None,
) -> Page[SiteOrganizationRead]:
    """The site's operator, the professional organisations it introduced (引进) and the community
    organisations it incubates (培育), C12 — with `active` when the link covers today."""
    items, cursor = await service.list_links(
        session, principal, site_id, page, relation.value if relation else None
    )
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/sites/{site_id}/organizations",
    response_model=SiteOrganizationRead,
    status_code=201,
    summary="Link an organisation to a site",
)
async def link_site_organization(
    request: Request,
    session: DbSession,
    principal: LinkEditor,
    site_id: uuid.UUID,
    body: SiteOrganizationCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """District, or the site's street. `relation`: `operator`, `introduced` or `incubated`;
    `until` ≥ `since` (open-ended when null). An unknown organisation → 422 `organization_id`; the
    same organisation and relation over an overlapping period → 409 `site_link_overlaps`."""

    async def create() -> SiteOrganizationRead:
        return await service.link_organization(session, request, principal, site_id, body)

    return await idempotency.run(create)


@router.delete(
    "/sites/{site_id}/organizations/{link_id}",
    status_code=204,
    summary="Remove an organisation link",
    response_class=Response,
)
async def unlink_site_organization(
    request: Request, session: DbSession, principal: LinkEditor, site_id: uuid.UUID, link_id: uuid.UUID
) -> Response:
    """District, or the site's street. Removes the link (e.g. one recorded by mistake); the audit
    log keeps what it was."""
    await service.unlink_organization(session, request, principal, site_id, link_id)
    return Response(status_code=204)
