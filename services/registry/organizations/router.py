"""`/organizations`: 社会组织 and 社区社会组织 with their 统一社会信用代码 (SPEC §4)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.common.auth import AnyUser, DistrictOnly
from services.common.db import DbSession
from services.common.enums import OrganizationKind, Registration
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.registry.organizations import service
from services.registry.organizations.schemas import (
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
)

router = APIRouter(tags=["organizations"])


@router.get("/organizations", response_model=Page[OrganizationRead], summary="List organizations")
async def list_organizations(
    session: DbSession,
    principal: AnyUser,
    page: Pagination,
    kind: OrganizationKind | None = None,
    registration: Registration | None = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Part of the name or of the USCC (any case).")
    ] = None,
) -> Page[OrganizationRead]:
    """Social organisations (社会组织) and community social organisations (社区社会组织), oldest first.

    District, street and integration callers see every organisation; an operator or evaluator
    sees only its own organisation."""
    rows, cursor = await service.list_organizations(
        session, principal, page, kind=kind, registration=registration, q=q
    )
    return Page(items=[OrganizationRead.model_validate(o) for o in rows], next_cursor=cursor)


@router.post(
    "/organizations", response_model=OrganizationRead, status_code=201, summary="Register an organization"
)
async def create_organization(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    body: OrganizationCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """District only. `uscc` (统一社会信用代码) must carry a valid GB 32100 check character (otherwise 422
    naming `uscc`) and be unique (409 `uscc_taken`); it is stored upper-case. Send `Idempotency-Key`
    to make a retry safe."""

    async def create() -> OrganizationRead:
        org = await service.create_organization(session, request, principal, body)
        return OrganizationRead.model_validate(org)

    return await idempotency.run(create, headers=lambda org: {"ETag": make_etag(org.id, org.version)})


@router.get(
    "/organizations/{organization_id}", response_model=OrganizationRead, summary="Get an organization"
)
async def get_organization(
    session: DbSession, principal: AnyUser, organization_id: uuid.UUID, response: Response
) -> OrganizationRead:
    """One organisation with its `ETag` (send it back as `If-Match` to change it). Operators and
    evaluators may read only their own organisation; any other id answers 404."""
    org = await service.get_organization(session, principal, organization_id)
    set_etag(response, org.id, org.version)
    return OrganizationRead.model_validate(org)


@router.patch(
    "/organizations/{organization_id}", response_model=OrganizationRead, summary="Change an organization"
)
async def update_organization(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    response: Response,
) -> OrganizationRead:
    """District only. Needs `If-Match` with the ETag last read (428 without, 412 if stale); only the
    fields sent change. A changed `uscc` is validated and must stay unique (409 `uscc_taken`)."""
    org = await service.update_organization(session, request, principal, organization_id, body)
    set_etag(response, org.id, org.version)
    return OrganizationRead.model_validate(org)
