"""Calling another Linju service: a service token from the gateway, then plain HTTP.

A service authenticates at the gateway's token endpoint with client_credentials
as ``service:<name>`` and the shared service secret; the token (role
``service``) is cached until shortly before it expires. Services never read
another service's schema: they ask its API (SPEC §2).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from services.common.errors import AppError
from services.common.timeutil import unix_now

# For every httpx client that calls our own services: idle connections are dropped well before
# uvicorn's 5 s keep-alive timeout, so a request never goes out on a connection the server is
# closing at that very moment (which fails it with a transport error).
INTERNAL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0)


class UpstreamUnavailable(AppError):
    status = 503
    code = "upstream_unavailable"


class ServiceTokens:
    def __init__(self, http: httpx.AsyncClient, gateway_url: str, name: str, secret: str) -> None:
        self._http = http
        self._url = f"{gateway_url.rstrip('/')}/api/v1/auth/token"
        self._client_id = f"service:{name}"
        self._secret = secret
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token is not None and unix_now() < self._valid_until:
            return self._token
        async with self._lock:
            if self._token is not None and unix_now() < self._valid_until:
                return self._token
            try:
                response = await self._http.post(
                    self._url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._secret,
                    },
                    timeout=5.0,
                )
                response.raise_for_status()
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise UpstreamUnavailable(
                    "Could not obtain a service token from the gateway.", detail_zh="无法从网关获取服务令牌。"
                ) from exc
            self._token = str(body["access_token"])
            # By the clock the token's exp is judged by (not monotonic time): a stepped clock, or a
            # test stack's clock moved ahead, must not keep an expired token in use.
            self._valid_until = unix_now() + max(10, int(body.get("expires_in", 300)) - 60)
            return self._token

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["Authorization"] = f"Bearer {await self.token()}"
        try:
            return await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(
                "Another Linju service did not answer.", detail_zh="依赖的服务暂时不可用。"
            ) from exc
