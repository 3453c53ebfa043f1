"""Endpoints for other services only (service tokens). The gateway never routes `/internal`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from services.common.auth import Principal, ServiceOnly
from services.common.db import DbSession
from services.common.errors import Forbidden
from services.common.etag import set_etag
from services.registry.internal import service
from services.registry.sites.schemas import SiteRead, TierUpdate

router = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


def require_service(name: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only the service token of one named service (`service:<name>`)."""
    subject = f"service:{name}"

    async def dependency(principal: ServiceOnly) -> Principal:
        if principal.sub != subject:
            raise Forbidden(
                f"Only the {name} service may call this endpoint.",
                detail_zh=f"仅 {name} 服务可以调用此接口。",
            )
        return principal

    dependency.__name__ = f"require_service_{name}"
    return dependency


EvaluationService = Annotated[Principal, Depends(require_service("evaluation"))]


class ScopeRead(BaseModel):
    site_ids: list[uuid.UUID]


@router.get("/scopes", response_model=ScopeRead)
async def scopes(
    session: DbSession,
    _: ServiceOnly,
    role: Annotated[str, Query(pattern="^(street|operator)$")],
    street_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
) -> ScopeRead:
    """The site ids a street user (its street's sites) or an operator (sites its organisation holds an
    active contract for today) may see: the gateway puts them into the `sites` claim."""
    return ScopeRead(site_ids=await service.site_scope(session, role, street_id, organization_id))


@router.post("/sites/{site_id}/tier", response_model=SiteRead)
async def set_site_tier(
    request: Request,
    session: DbSession,
    principal: EvaluationService,
    site_id: uuid.UUID,
    body: TierUpdate,
    response: Response,
) -> SiteRead:
    """Set the hub type (Annex A) of a site when a final evaluation round is published: the only way
    `tier` is ever written. Evaluation service token only; bumps the site's version and is audited."""
    site = await service.set_site_tier(session, request, principal, site_id, body)
    set_etag(response, site.id, site.version)
    return SiteRead.from_site(site)
