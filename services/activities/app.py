"""Activities service: what happens at each site (SPEC §5)."""

from __future__ import annotations

from fastapi import FastAPI

from services.activities.database import tables
from services.activities.deliberations.router import router as deliberations_router
from services.activities.settings import ActivitiesSettings
from services.activities.sites import SiteDirectory
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
        routers=[deliberations_router],
        on_startup=on_startup,
    )
