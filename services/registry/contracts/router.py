"""`/contracts`: service purchase contracts (5.1 服务购买合同) between the district and operators."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.common.auth import DistrictOnly, Principal, require_roles
from services.common.db import DbSession
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.common.timeutil import IsoDate
from services.registry.contracts import service
from services.registry.contracts.schemas import ContractCreate, ContractRead, ContractUpdate

router = APIRouter(tags=["contracts"])

# Evaluators never see contracts (SPEC §1: read-only on sites, not on the money behind them).
ContractReader = Annotated[Principal, Depends(require_roles("district", "street", "operator", "integration"))]


@router.get("/contracts", response_model=Page[ContractRead], summary="List service contracts")
async def list_contracts(
    session: DbSession,
    principal: ContractReader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    active_on: Annotated[
        IsoDate | None, Query(description="Only contracts covering this date (YYYY-MM-DD).")
    ] = None,
) -> Page[ContractRead]:
    """Service purchase contracts (5.1), oldest first. District and integration see all; a street
    the contracts of its street's sites; an operator its own organisation's contracts. Evaluators
    are refused (403). `active` tells whether the contract covers today (Asia/Shanghai)."""
    rows, cursor = await service.list_contracts(
        session, principal, page, site_id=site_id, organization_id=organization_id, active_on=active_on
    )
    return Page(items=[ContractRead.model_validate(c) for c in rows], next_cursor=cursor)


@router.post("/contracts", response_model=ContractRead, status_code=201, summary="Record a service contract")
async def create_contract(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    body: ContractCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """District only. The site and the organisation must exist (422 naming `site_id` /
    `organization_id`); `ends_on` ≥ `starts_on`; `amount` is a decimal string in yuan, ≥ 0.

    While a contract covers today its organisation operates the site (5.1): the organisation's
    operator users see the site from their next login or token refresh."""

    async def create() -> ContractRead:
        contract = await service.create_contract(session, request, principal, body)
        return ContractRead.model_validate(contract)

    return await idempotency.run(create, headers=lambda c: {"ETag": make_etag(c.id, c.version)})


@router.get("/contracts/{contract_id}", response_model=ContractRead, summary="Get a service contract")
async def get_contract(
    session: DbSession, principal: ContractReader, contract_id: uuid.UUID, response: Response
) -> ContractRead:
    """One contract with its `ETag`. A contract outside your scope answers 404 like a missing one."""
    contract = await service.get_contract(session, principal, contract_id)
    set_etag(response, contract.id, contract.version)
    return ContractRead.model_validate(contract)


@router.patch("/contracts/{contract_id}", response_model=ContractRead, summary="Change a service contract")
async def update_contract(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    contract_id: uuid.UUID,
    body: ContractUpdate,
    response: Response,
) -> ContractRead:
    """District only. Needs `If-Match` with the ETag last read (428 without, 412 if stale); only the
    fields sent change, and the resulting period must keep `ends_on` ≥ `starts_on` (422)."""
    contract = await service.update_contract(session, request, principal, contract_id, body)
    set_etag(response, contract.id, contract.version)
    return ContractRead.model_validate(contract)
