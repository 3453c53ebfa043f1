"""The gateway: the only public entrance (SPEC §2, §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from starlette.routing import Route

from services.common.app import add_health_routes
from services.common.db import create_engine, make_sessionmaker
from services.common.errors import UnhandledErrorMiddleware, install_error_handlers
from services.common.memory import freeze_startup_objects
from services.common.metrics import GATEWAY_METRICS_PATH, add_collector, install_metrics
from services.common.requestid import RequestIdMiddleware, configure_logging
from services.common.responses import json_response
from services.common.service_client import INTERNAL_LIMITS
from services.common.tokens import TokenVerifier
from services.gateway.auth.router import router as auth_router
from services.gateway.database import tables
from services.gateway.docs import install_docs
from services.gateway.identity.internal import router as internal_router
from services.gateway.identity.live import AccountStates
from services.gateway.identity.router import router as identity_router
from services.gateway.identity.scopes import ScopeResolver
from services.gateway.keys.service import KeyRing
from services.gateway.proxy.forward import GatewayFront, Proxy, create_proxy_context
from services.gateway.proxy.openapi import MergedOpenAPI
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks.metrics import webhook_metrics
from services.gateway.webhooks.router import router as webhooks_router

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
    {
        "name": "webhooks",
        "description": "Signed change events pushed to district data platforms (district only).",
    },
]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", json_lines=settings.log_json, level=settings.log_level)
    settings.install_clock()

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
        app.state.upstreams = {
            name: httpx.AsyncClient(base_url=url, limits=INTERNAL_LIMITS, timeout=settings.upstream_timeout_s)
            for name, url in settings.upstreams().items()
        }
        app.state.http = httpx.AsyncClient(timeout=5.0, limits=INTERNAL_LIMITS)
        app.state.scopes = ScopeResolver(app.state.http, settings, keyring)
        app.state.openapi = MergedOpenAPI(app)
        app.state.accounts = AccountStates(app.state.sessionmaker, settings.asyncpg_dsn)
        await app.state.accounts.start()
        app.state.proxy = create_proxy_context(settings, app.state.token_verifier, app.state.accounts)
        freeze_startup_objects()
        try:
            yield
        finally:
            await app.state.accounts.stop()
            for client in app.state.upstreams.values():
                await client.aclose()
            await app.state.proxy.close()
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
    # 431 for oversized headers, and the upstream prefixes straight to the proxy (no routing).
    app.add_middleware(GatewayFront, max_header_bytes=settings.max_header_bytes)
    # GET /metrics: bearer LINJU_METRICS_TOKEN, or loopback clients only while it is unset.
    install_metrics(
        app, service="gateway", path=GATEWAY_METRICS_PATH, token=settings.metrics_token, loopback_only=True
    )
    app.add_middleware(RequestIdMiddleware)
    app.include_router(auth_router)
    app.include_router(identity_router)
    app.include_router(internal_router)
    app.include_router(webhooks_router)
    # Webhook deliveries, failures and the change feeds' backlog on the gateway's /metrics.
    add_collector(app, webhook_metrics)

    @app.get("/.well-known/jwks.json", tags=["keys"], summary="JSON Web Key Set")
    async def jwks(request: Request) -> Any:
        """The public keys that verify Linju access tokens (RS256, selected by `kid`)."""
        return json_response(await request.app.state.keyring.jwks(), headers={"Cache-Control": "max-age=60"})

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Any:
        return json_response(await request.app.state.openapi.document())

    # /docs, /redoc and their assets, all served from this process (services/gateway/docs.py).
    install_docs(app)

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
    # GatewayFront hands the upstream prefixes to the proxy before routing; this route only
    # answers the rest of `/api/v1/{unknown}/…` (404) the same way.
    app.router.routes.append(
        Route(
            "/api/v1/{service}/{path:path}",
            UnhandledErrorMiddleware(Proxy()),
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            include_in_schema=False,
        )
    )
    return app
