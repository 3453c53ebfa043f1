"""Service purchase contracts (5.1): who sees which, and the create/update rules.

A contract active today is what makes its organisation the operator of the site
(services/registry/scope.py), so these rows decide an operator's whole scope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import NotFound, ValidationFailed
from services.common.etag import require_if_match
from services.common.pagination import PageParams, keyset_page
from services.common.timeutil import utc_now
from services.registry.audit import audit
from services.registry.contracts.models import Contract
from services.registry.contracts.schemas import ContractCreate, ContractRead, ContractUpdate
from services.registry.organizations.models import Organization
from services.registry.scope import visible_sites
from services.registry.sites.models import Site


class ContractNotFound(NotFound):
    code = "contract_not_found"

    def __init__(self) -> None:
        super().__init__("No contract with this id.", detail_zh="服务购买合同不存在。")


def _scoped(stmt: Select[Any], principal: Principal) -> Select[Any]:
    """Contracts ``principal`` may see: an operator its own organisation's, others through the site
    policy (street: its street's sites; district and integration: all)."""
    if principal.role == "operator":
        own: ColumnElement[bool] = (
            Contract.organization_id == principal.organization_id if principal.organization_id else false()
        )
        return stmt.where(own)
    if principal.role in ("district", "integration", "service"):
        return stmt.where(true())
    return stmt.join(Site, Site.id == Contract.site_id).where(visible_sites(principal))


def _snapshot(contract: Contract) -> dict[str, Any]:
    return ContractRead.model_validate(contract).model_dump(mode="json")


async def list_contracts(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    site_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    active_on: dt.date | None = None,
) -> tuple[list[Contract], str | None]:
    stmt = _scoped(select(Contract), principal)
    if site_id is not None:
        stmt = stmt.where(Contract.site_id == site_id)
    if organization_id is not None:
        stmt = stmt.where(Contract.organization_id == organization_id)
    if active_on is not None:
        stmt = stmt.where(Contract.starts_on <= active_on, Contract.ends_on >= active_on)
    return await keyset_page(session, stmt, [Contract.created_at, Contract.id], page)


async def get_contract(
    session: AsyncSession, principal: Principal, contract_id: uuid.UUID, *, for_update: bool = False
) -> Contract:
    stmt = _scoped(select(Contract), principal).where(Contract.id == contract_id)
    if for_update:
        stmt = stmt.with_for_update(of=Contract)
    contract = await session.scalar(stmt)
    if contract is None:
        raise ContractNotFound()
    return contract


async def _check_references(
    session: AsyncSession, site_id: uuid.UUID | None, organization_id: uuid.UUID | None
) -> None:
    if site_id is not None and await session.get(Site, site_id) is None:
        raise ValidationFailed("site_id", "no site with this id", message_zh="站点不存在")
    if organization_id is not None and await session.get(Organization, organization_id) is None:
        raise ValidationFailed("organization_id", "no organization with this id", message_zh="社会组织不存在")


def _check_period(starts_on: dt.date, ends_on: dt.date, field: str) -> None:
    if ends_on < starts_on:
        raise ValidationFailed(
            field, "ends_on must be on or after starts_on", message_zh="合同结束日期不能早于开始日期"
        )


async def create_contract(
    session: AsyncSession, request: Request, principal: Principal, body: ContractCreate
) -> Contract:
    _check_period(body.starts_on, body.ends_on, "ends_on")
    await _check_references(session, body.site_id, body.organization_id)
    contract = Contract(id=uuid.uuid4(), **body.model_dump())
    session.add(contract)
    await session.flush()
    await audit(
        session, request, principal, "contract.create", "contract", contract.id, after=_snapshot(contract)
    )
    return contract


async def update_contract(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    contract_id: uuid.UUID,
    body: ContractUpdate,
) -> Contract:
    contract = await get_contract(session, principal, contract_id, for_update=True)
    require_if_match(request, contract.id, contract.version)
    changes = body.model_dump(exclude_unset=True)
    _check_period(
        changes.get("starts_on", contract.starts_on),
        changes.get("ends_on", contract.ends_on),
        "ends_on" if "ends_on" in changes else "starts_on",
    )
    await _check_references(session, changes.get("site_id"), changes.get("organization_id"))
    changed = {k: v for k, v in changes.items() if getattr(contract, k) != v}
    if not changed:
        return contract
    before = _snapshot(contract)
    for field, value in changed.items():
        setattr(contract, field, value)
    contract.version += 1
    contract.updated_at = utc_now()
    await session.flush()
    await audit(
        session,
        request,
        principal,
        "contract.update",
        "contract",
        contract.id,
        before=before,
        after=_snapshot(contract),
    )
    return contract
