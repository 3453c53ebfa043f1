"""``create_service_app``: what every domain service's FastAPI app has in common.

Lifespan (engine, sessionmaker, JWKS-backed token verifier, one shared HTTP
client), request-id middleware, problem+json handlers, ``/healthz`` and
``/readyz``. Each service adds its routers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData, Table, text

from services.common.audit import audit_table
from services.common.changes import outbox_collector
from services.common.db import create_engine, make_sessionmaker
from services.common.directpool import close_direct_pool
from services.common.errors import install_error_handlers, problem_response
from services.common.idempotency import idempotency_table
from services.common.memory import freeze_startup_objects
from services.common.metrics import add_collector, install_metrics
from services.common.openapi import document_problems
from services.common.outbox import outbox_table
from services.common.requestid import RequestIdMiddleware, configure_logging
from services.common.service_client import INTERNAL_LIMITS
from services.common.settings import ServiceSettings
from services.common.tokens import JwksCache, TokenVerifier


class ServiceTables:
    """The per-schema infrastructure tables every service owns (audit log, idempotency keys) and,
    for the domain services, the change-feed outbox."""

    def __init__(self, metadata: MetaData, *, outbox: bool = False) -> None:
        self.audit: Table = audit_table(metadata)
        self.idempotency: Table = idempotency_table(metadata)
        self._outbox: Table | None = outbox_table(metadata) if outbox else None

    @property
    def has_outbox(self) -> bool:
        return self._outbox is not None

    @property
    def outbox(self) -> Table:
        if self._outbox is None:
            raise LookupError("this schema has no outbox")
        return self._outbox


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    settings: ServiceSettings,
    tables: ServiceTables,
    routers: Sequence[APIRouter],
    on_startup: Callable[[FastAPI], Awaitable[None]] | None = None,
) -> FastAPI:
    configure_logging(name, json_lines=settings.log_json, level=settings.log_level)
    settings.install_clock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.async_database_url, pool_size=settings.db_pool_size)
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0), limits=INTERNAL_LIMITS)
        jwks = JwksCache(settings.jwks_url, refetch_interval_s=settings.jwks_refetch_interval_s, client=http)
        app.state.settings = settings
        app.state.service_name = name
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.http = http
        app.state.jwks = jwks
        app.state.token_verifier = TokenVerifier(
            jwks.lookup, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
        app.state.audit_table = tables.audit
        app.state.trust_forwarded_for = True
        app.state.idempotency_table = tables.idempotency
        if on_startup is not None:
            await on_startup(app)
        freeze_startup_objects()
        try:
            yield
        finally:
            await http.aclose()
            await close_direct_pool(app)
            await engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        # Readable operationIds (the handler's name); the gateway prefixes the service name.
        generate_unique_id_function=lambda route: route.name,
    )
    install_error_handlers(app)
    # GET /internal/prometheus (never routed by the gateway), X-Linju-Route for the gateway's labels.
    install_metrics(app, service=name, token=settings.metrics_token, report_route=True)
    if tables.has_outbox:
        add_collector(app, outbox_collector(tables.outbox, name))
    app.add_middleware(RequestIdMiddleware)
    for router in routers:
        app.include_router(router)
    add_health_routes(app)
    app.openapi = _with_problems(app.openapi)  # type: ignore[method-assign]
    return app


def _with_problems(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, with every error documented as the problem+json it really is."""

    def openapi() -> dict[str, Any]:
        return document_problems(generate())

    return openapi


def add_health_routes(
    app: FastAPI, extra_checks: Callable[[FastAPI], Awaitable[dict[str, Any]]] | None = None
) -> None:
    @app.get("/healthz", tags=["health"], summary="Liveness", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness (database)", include_in_schema=False)
    async def readyz() -> Any:
        checks: dict[str, Any] = {}
        try:
            async with app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if extra_checks is not None:
            checks.update(await extra_checks(app))
        if all(v == "ok" for v in checks.values()):
            return {"status": "ok", "checks": checks}
        return problem_response(
            status=503, code="upstream_unavailable", detail="Not ready", extra={"checks": checks}
        )
