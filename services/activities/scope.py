"""Who may read and write which site's logs (SPEC §1, issue 4).

The activities service knows sites only through the token's ``sites`` claim
(resolved by the gateway from the registry and the evaluation assignments):

* ``district``, ``integration`` (and service tokens): every site;
* ``street``, ``operator``, ``evaluator``: the sites in their claim.

Writes: operators for the sites in their claim, the district for any site the
registry knows. Everything out of scope answers 404, like a missing record.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, false, true

from services.common.auth import Principal, require_roles
from services.common.errors import NotFound

UNRESTRICTED = frozenset({"district", "integration", "service"})

Reader = Annotated[
    Principal, Depends(require_roles("district", "street", "operator", "evaluator", "integration"))
]
Writer = Annotated[Principal, Depends(require_roles("district", "operator"))]
DistrictOnly = Annotated[Principal, Depends(require_roles("district"))]


def site_clause(principal: Principal, site_column: Any) -> ColumnElement[bool]:
    """A WHERE clause restricting ``site_column`` to the sites the principal may read."""
    if principal.role in UNRESTRICTED:
        return true()
    if not principal.sites:
        return false()
    return site_column.in_(sorted(principal.sites))


def can_read_site(principal: Principal, site_id: uuid.UUID) -> bool:
    return principal.role in UNRESTRICTED or (principal.sites is not None and site_id in principal.sites)


def site_not_found() -> NotFound:
    return NotFound("No site with this id in your scope.", detail_zh="站点不存在。", code="site_not_found")


async def ensure_can_write_site(request: Request, principal: Principal, site_id: uuid.UUID) -> None:
    """Operators write for their claimed sites; the district for any site the registry knows."""
    if principal.role == "operator":
        if principal.sites is None or site_id not in principal.sites:
            raise site_not_found()
        return
    if principal.role == "district":
        if not await request.app.state.sites.exists(site_id):
            raise site_not_found()
        return
    raise NotFound(code="site_not_found")


def sees_personal_data(principal: Principal, site_id: uuid.UUID) -> bool:
    """Unmasked personal data: the site's operator and the district, and only on single-record reads."""
    if principal.role == "district":
        return True
    return principal.role == "operator" and principal.sites is not None and site_id in principal.sites
