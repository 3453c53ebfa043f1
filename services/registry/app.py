"""Registry service: sites, organisations, people, construction filings (SPEC §4)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.registry.contracts.router import router as contracts_router
from services.registry.database import tables
from services.registry.feed import changes as changes_router
from services.registry.feed import exports as exports_router
from services.registry.filings.router import router as filings_router
from services.registry.internal.directory import router as directory_router
from services.registry.internal.evaluation_inputs import router as evaluation_inputs_router
from services.registry.internal.router import router as internal_router
from services.registry.organizations.router import router as organizations_router
from services.registry.reference.router import router as reference_router
from services.registry.settings import RegistrySettings
from services.registry.sites.router import router as sites_router
from services.registry.staff.router import router as staff_router


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    return create_service_app(
        name="registry",
        title="Linju registry",
        description="Sites (社区美好生活共同体), organisations, contracts, staff, 6.2.2 filings.",
        settings=settings or RegistrySettings(),
        tables=tables,
        routers=[
            reference_router,
            sites_router,
            organizations_router,
            contracts_router,
            staff_router,
            filings_router,
            internal_router,
            directory_router,
            evaluation_inputs_router,
            changes_router,
            exports_router,
        ],
    )
