"""Who sees which site: one policy, used by every query of every registry resource.

* ``district``, ``integration`` (and service tokens): every site;
* ``street``: the sites of its street (from the registry's own tables);
* ``operator``: the sites its organisation holds a contract for that is active today;
* ``evaluator``: the sites of its token's ``sites`` claim (its round assignments).

Out-of-scope objects are reported exactly like missing ones (404).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import one_in_scope
from services.common.errors import NotFound
from services.common.timeutil import today_shanghai
from services.registry.contracts.models import Contract
from services.registry.sites.models import Site

UNRESTRICTED_ROLES = frozenset({"district", "integration", "service"})


def operator_site_ids(organization_id: uuid.UUID, today: dt.date | None = None):  # type: ignore[no-untyped-def]
    """Sites an organisation operates: a contract covering ``today``."""
    day = today or today_shanghai()
    return select(Contract.site_id).where(
        Contract.organization_id == organization_id, Contract.starts_on <= day, Contract.ends_on >= day
    )


def visible_sites(principal: Principal, today: dt.date | None = None) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Site` selecting the sites ``principal`` may see."""
    if principal.role in UNRESTRICTED_ROLES:
        return true()
    if principal.role == "street":
        return Site.street_id == principal.street_id if principal.street_id else false()
    if principal.role == "operator":
        if principal.organization_id is None:
            return false()
        return Site.id.in_(operator_site_ids(principal.organization_id, today))
    if principal.role == "evaluator":
        return Site.id.in_(list(principal.sites or ())) if principal.sites else false()
    return false()


def site_not_found() -> NotFound:
    return NotFound("No site with this id.", detail_zh="站点不存在。", code="site_not_found")


async def get_visible_site(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID, *, for_update: bool = False
) -> Site:
    return await one_in_scope(
        session, Site, site_id, visible_sites(principal), site_not_found(), for_update=for_update
    )


async def scope_site_ids(
    session: AsyncSession, role: str, street_id: uuid.UUID | None, organization_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """The ids behind the gateway's ``sites`` claim for a street or operator user."""
    principal = Principal(sub="scope", role=role, street_id=street_id, organization_id=organization_id)
    rows = await session.scalars(select(Site.id).where(visible_sites(principal)).order_by(Site.id))
    return list(rows)
