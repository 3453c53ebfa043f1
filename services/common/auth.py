"""The caller of a request (:class:`Principal`) and typed role dependencies.

Every service verifies the bearer token itself (identity headers from clients
or even from the gateway are never trusted). Route-level checks read like a
table::

    DistrictOnly = Annotated[Principal, Depends(require_roles("district"))]

Object-level scope is each domain's business (a policy function turning the
principal into a WHERE clause); out-of-scope objects answer 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.errors import Forbidden, Unauthorized
from services.common.tokens import InvalidToken, TokenVerifier

USER_ROLES = ("district", "street", "operator", "evaluator")
ALL_ROLES = (*USER_ROLES, "integration")


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    role: str
    street_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    # Site ids a street/operator/evaluator may see; None means "not restricted by the claim"
    # (district, integration, service).
    sites: frozenset[uuid.UUID] | None = None
    jti: str | None = None

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        def as_uuid(value: Any) -> uuid.UUID | None:
            return uuid.UUID(value) if value else None

        sites = claims.get("sites")
        return cls(
            sub=str(claims["sub"]),
            role=str(claims["role"]),
            street_id=as_uuid(claims.get("street_id")),
            organization_id=as_uuid(claims.get("organization_id")),
            sites=frozenset(uuid.UUID(s) for s in sites) if isinstance(sites, list) else None,
            jti=claims.get("jti"),
        )

    @property
    def user_id(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.sub)
        except ValueError:
            return None

    def can_see_site(self, site_id: uuid.UUID) -> bool:
        return self.sites is None or site_id in self.sites


_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/token")


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer access token is required.", detail_zh="需要 Bearer 访问令牌。")
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        claims = await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise Unauthorized(
            "The access token is invalid or expired.",
            detail_zh="访问令牌无效或已过期。",
            code="invalid_token",
        ) from exc
    principal = Principal.from_claims(claims)
    request.state.principal = principal
    request.state.token_claims = claims
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only the given roles (403 for any other authenticated caller)."""
    allowed = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"This operation is not available to role '{principal.role}'.",
                detail_zh=f"角色“{principal.role}”无权执行此操作。",
            )
        return principal

    dependency.__name__ = "require_" + "_or_".join(sorted(allowed))
    return dependency


AnyUser = Annotated[Principal, Depends(require_roles(*ALL_ROLES))]
DistrictOnly = Annotated[Principal, Depends(require_roles("district"))]
ServiceOnly = Annotated[Principal, Depends(require_roles("service"))]
