"""Organisations: who sees which, and the create/update rules (unique, check-digit-valid USCC)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import one_in_scope
from services.common.enums import OrganizationKind, Registration
from services.common.errors import Conflict, NotFound
from services.common.etag import require_if_match
from services.common.pagination import PageParams, keyset_page
from services.common.timeutil import utc_now
from services.registry.audit import audit
from services.registry.organizations.models import Organization
from services.registry.organizations.schemas import (
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
)

# Roles that see every organisation; operators and evaluators see only their own.
ALL_ORGANIZATIONS_ROLES = frozenset({"district", "street", "integration", "service"})


class OrganizationNotFound(NotFound):
    code = "organization_not_found"

    def __init__(self) -> None:
        super().__init__("No organization with this id.", detail_zh="社会组织不存在。")


class UsccTaken(Conflict):
    code = "uscc_taken"

    def __init__(self, uscc: str) -> None:
        super().__init__(
            f"An organization with USCC {uscc} already exists.",
            detail_zh=f"统一社会信用代码 {uscc} 已被其他组织使用。",
        )


def visible_organizations(principal: Principal) -> ColumnElement[bool]:
    """WHERE clause on :class:`Organization` for what ``principal`` may see."""
    if principal.role in ALL_ORGANIZATIONS_ROLES:
        return true()
    if principal.role in ("operator", "evaluator") and principal.organization_id is not None:
        return Organization.id == principal.organization_id
    return false()


def _snapshot(org: Organization) -> dict[str, object]:
    return OrganizationRead.model_validate(org).model_dump(mode="json")


async def list_organizations(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    kind: OrganizationKind | None = None,
    registration: Registration | None = None,
    q: str | None = None,
) -> tuple[list[Organization], str | None]:
    stmt: Select[Any] = select(Organization).where(visible_organizations(principal))
    if kind is not None:
        stmt = stmt.where(Organization.kind == kind)
    if registration is not None:
        stmt = stmt.where(Organization.registration == registration)
    if q:
        stmt = stmt.where(
            or_(
                Organization.name.icontains(q, autoescape=True),
                Organization.uscc.icontains(q, autoescape=True),
            )
        )
    return await keyset_page(session, stmt, [Organization.created_at, Organization.id], page)


async def get_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, *, for_update: bool = False
) -> Organization:
    return await one_in_scope(
        session,
        Organization,
        organization_id,
        visible_organizations(principal),
        OrganizationNotFound(),
        for_update=for_update,
    )


async def _ensure_uscc_free(session: AsyncSession, uscc: str, own_id: uuid.UUID | None = None) -> None:
    stmt = select(Organization.id).where(Organization.uscc == uscc)
    if own_id is not None:
        stmt = stmt.where(Organization.id != own_id)
    if await session.scalar(stmt) is not None:
        raise UsccTaken(uscc)


async def _flush_unique(session: AsyncSession, uscc: str) -> None:
    """Flush in a savepoint so a concurrent insert of the same USCC becomes 409, not 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise UsccTaken(uscc) from exc


async def create_organization(
    session: AsyncSession, request: Request, principal: Principal, body: OrganizationCreate
) -> Organization:
    await _ensure_uscc_free(session, body.uscc)
    org = Organization(id=uuid.uuid4(), **body.model_dump())
    session.add(org)
    await _flush_unique(session, body.uscc)
    await audit(
        session, request, principal, "organization.create", "organization", org.id, after=_snapshot(org)
    )
    return org


async def update_organization(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
) -> Organization:
    org = await get_organization(session, principal, organization_id, for_update=True)
    require_if_match(request, org.id, org.version)
    changes = body.model_dump(exclude_unset=True)
    if "uscc" in changes and changes["uscc"] != org.uscc:
        await _ensure_uscc_free(session, changes["uscc"], own_id=org.id)
    before = _snapshot(org)
    changed = {k: v for k, v in changes.items() if getattr(org, k) != v}
    if not changed:
        return org
    for field, value in changed.items():
        setattr(org, field, value)
    org.version += 1
    org.updated_at = utc_now()
    await _flush_unique(session, org.uscc)
    await audit(
        session,
        request,
        principal,
        "organization.update",
        "organization",
        org.id,
        before=before,
        after=_snapshot(org),
    )
    return org
