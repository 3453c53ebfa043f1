"""Resolving the `sites` claim when a token is issued or refreshed.

Street and operator scope comes from the registry (streets, contracts active
today); evaluator scope from the evaluation service's assignments. Both are
asked over HTTP with a short-lived service token: the gateway never reads
another service's schema.
"""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import AppError
from services.common.timeutil import unix_now
from services.gateway.database import User
from services.gateway.keys.service import KeyRing
from services.gateway.settings import GatewaySettings

SERVICE_TOKEN_TTL_S = 300


class ScopeResolver:
    def __init__(self, http: httpx.AsyncClient, settings: GatewaySettings, keyring: KeyRing) -> None:
        self._http = http
        self._settings = settings
        self._keyring = keyring
        self._token: tuple[str, float] | None = None

    async def service_token(self, session: AsyncSession) -> str:
        now = unix_now()  # the clock the token's exp is judged by
        if self._token is None or self._token[1] < now:
            signer = await self._keyring.signer(session)
            token = signer.sign("service:gateway", {"role": "service"}, ttl_s=SERVICE_TOKEN_TTL_S)
            self._token = (token, now + SERVICE_TOKEN_TTL_S - 60)
        return self._token[0]

    async def sites_for(self, session: AsyncSession, user: User) -> list[uuid.UUID] | None:
        """Site ids for street/operator/evaluator users; None (unrestricted) for district."""
        if user.role == "district":
            return None
        params = {"role": user.role}
        if user.street_id:
            params["street_id"] = str(user.street_id)
        if user.organization_id:
            params["organization_id"] = str(user.organization_id)
        base = self._settings.registry_url
        if user.role == "evaluator":
            params["evaluator_id"] = str(user.id)
            base = self._settings.evaluation_url
        token = await self.service_token(session)
        try:
            for attempt in (1, 2):
                try:
                    response = await self._http.get(
                        f"{base}/internal/scopes",
                        params=params,
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=5.0,
                    )
                    break
                except httpx.TransportError:
                    # A read: once more on a fresh connection (the pooled one may have just closed).
                    if attempt == 2:
                        raise
            response.raise_for_status()
            return [uuid.UUID(s) for s in response.json()["site_ids"]]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise AppError(
                "Could not resolve your sites right now; try again shortly.",
                detail_zh="暂时无法获取您的站点范围,请稍后重试。",
                code="upstream_unavailable",
                status=503,
                headers={"Retry-After": "2"},
            ) from exc
