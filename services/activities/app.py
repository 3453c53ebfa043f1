"""Activities service: what happens at each site (SPEC §5)."""

from __future__ import annotations

from fastapi import FastAPI

from services.activities.database import tables
from services.activities.settings import ActivitiesSettings
from services.common.app import create_service_app


def create_app(settings: ActivitiesSettings | None = None) -> FastAPI:
    return create_service_app(
        name="activities",
        title="Linju activities",
        description="Activity and service logs of the ten service categories (5.4), statistics and metrics.",
        settings=settings or ActivitiesSettings(),
        tables=tables,
        routers=[],
    )
