"""The gateway: the only public entrance (SPEC §2, §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from services.common.app import add_health_routes
from services.common.db import create_engine, make_sessionmaker
from services.common.errors import install_error_handlers
from services.common.requestid import RequestIdMiddleware, configure_logging
from services.common.responses import json_response
from services.common.tokens import TokenVerifier
from services.gateway.auth.router import router as auth_router
from services.gateway.database import tables
from services.gateway.identity.internal import router as internal_router
from services.gateway.identity.live import AccountStates
from services.gateway.identity.router import router as identity_router
from services.gateway.identity.scopes import ScopeResolver
from services.gateway.keys.service import KeyRing
from services.gateway.proxy.forward import proxy
from services.gateway.proxy.openapi import MergedOpenAPI
from services.gateway.settings import GatewaySettings

DESCRIPTION = """\
Linju (邻聚) runs and supervises the district's community good-life hubs (社区美好生活共同体,
brand 邻聚里 HOME+) under the Binjiang technical specification.

**Start here:** click *Authorize*, log in with a user (e.g. the demo district user printed by
`linju up`), then try `GET /api/v1/registry/streets`.

Conventions: JSON in snake_case, UUID ids, RFC 3339 timestamps, money as decimal strings;
lists take `limit` (≤ 200) and `cursor` and answer `{items, next_cursor}`; errors are RFC 9457
`application/problem+json` with a stable `code` (send `Accept-Language: zh-CN` for Chinese);
`POST` accepts `Idempotency-Key`; `PATCH` wants `If-Match`.
"""

TAGS = [
    {"name": "auth", "description": "Log in, refresh, log out, who am I."},
    {"name": "users", "description": "User accounts (district only)."},
    {"name": "clients", "description": "API clients for district data platforms (district only)."},
    {"name": "keys", "description": "Public keys for verifying access tokens."},
]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", json_lines=settings.log_json, level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.async_database_url, pool_size=settings.db_pool_size)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.audit_table = tables.audit
        app.state.idempotency_table = tables.idempotency
        keyring = KeyRing(app.state.sessionmaker, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        app.state.keyring = keyring
        app.state.token_verifier = TokenVerifier(
            keyring.lookup, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30)
        app.state.upstreams = {
            name: httpx.AsyncClient(base_url=url, limits=limits, timeout=settings.upstream_timeout_s)
            for name, url in settings.upstreams().items()
        }
        app.state.proxy_sessions = {
            name: aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=30, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=2.0),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            )
            for name in settings.upstreams()
        }
        app.state.http = httpx.AsyncClient(timeout=5.0)
        app.state.scopes = ScopeResolver(app.state.http, settings, keyring)
        app.state.openapi = MergedOpenAPI(app)
        app.state.accounts = AccountStates(app.state.sessionmaker, settings.asyncpg_dsn)
        await app.state.accounts.start()
        try:
            yield
        finally:
            await app.state.accounts.stop()
            for client in app.state.upstreams.values():
                await client.aclose()
            for session in app.state.proxy_sessions.values():
                await session.close()
            await app.state.http.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Linju API",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan,
        openapi_tags=TAGS,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
    )
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(auth_router)
    app.include_router(identity_router)
    app.include_router(internal_router)

    @app.get("/.well-known/jwks.json", tags=["keys"], summary="JSON Web Key Set")
    async def jwks(request: Request) -> Any:
        """The public keys that verify Linju access tokens (RS256, selected by `kid`)."""
        return json_response(await request.app.state.keyring.jwks(), headers={"Cache-Control": "max-age=60"})

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Any:
        return json_response(await request.app.state.openapi.document())

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Linju API",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    async def upstream_checks(app: FastAPI) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        for name, client in app.state.upstreams.items():
            try:
                response = await client.get("/readyz", timeout=2.0)
                checks[name] = "ok" if response.status_code == 200 else f"status {response.status_code}"
            except httpx.HTTPError as exc:
                checks[name] = f"error: {type(exc).__name__}"
        return checks

    add_health_routes(app, upstream_checks)
    # A plain Starlette route: the proxy needs no FastAPI dependency resolution on its hot path.
    app.add_route(
        "/api/v1/{service}/{path:path}",
        proxy,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    return app
