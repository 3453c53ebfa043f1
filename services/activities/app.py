"""Activities service: what happens at each site (SPEC §5)."""

from __future__ import annotations

from fastapi import FastAPI

from services.activities.activities.router import router as activities_router
from services.activities.batch.router import router as batch_router
from services.activities.casework.router import router as casework_router
from services.activities.database import tables
from services.activities.deliberations.router import router as deliberations_router
from services.activities.feed import changes as changes_router
from services.activities.feed import exports as exports_router
from services.activities.funds.router import router as funds_router
from services.activities.metrics.router import router as metrics_router
from services.activities.needs.router import router as needs_router
from services.activities.plans.router import router as plans_router
from services.activities.recognition.router import router as recognition_router
from services.activities.safety.router import router as safety_router
from services.activities.settings import ActivitiesSettings
from services.activities.sites import SiteDirectory
from services.activities.stats.router import router as stats_router
from services.activities.visits.router import router as visits_router
from services.activities.volunteers.router import router as volunteers_router
from services.common.app import create_service_app
from services.common.service_client import ServiceTokens


def create_app(settings: ActivitiesSettings | None = None) -> FastAPI:
    settings = settings or ActivitiesSettings()

    async def on_startup(app: FastAPI) -> None:
        tokens = ServiceTokens(app.state.http, settings.gateway_url, "activities", settings.service_secret)
        app.state.sites = SiteDirectory(tokens, settings.registry_url)

    return create_service_app(
        name="activities",
        title="Linju activities",
        description="Activity and service logs of the ten service categories (5.4), statistics and metrics.",
        settings=settings,
        tables=tables,
        # The most frequent calls first: routes are matched in order (issue 7, P4).
        routers=[
            activities_router,
            batch_router,
            deliberations_router,
            safety_router,
            funds_router,
            recognition_router,
            stats_router,
            metrics_router,
            plans_router,
            casework_router,
            visits_router,
            needs_router,
            volunteers_router,
            changes_router,
            exports_router,
        ],
        on_startup=on_startup,
    )
