"""Evaluation service: the Table C.1 rubric, rounds, scorecards (SPEC §6)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.service_client import ServiceTokens
from services.evaluation.database import tables
from services.evaluation.feed import changes as changes_router
from services.evaluation.feed import exports as exports_router
from services.evaluation.improvement.router import router as improvement_router
from services.evaluation.internal.router import router as internal_router
from services.evaluation.reports.router import router as reports_router
from services.evaluation.rounds.router import router as rounds_router
from services.evaluation.rubrics.router import router as rubrics_router
from services.evaluation.scorecards.router import router as scorecards_router
from services.evaluation.settings import EvaluationSettings


def create_app(settings: EvaluationSettings | None = None) -> FastAPI:
    settings = settings or EvaluationSettings()

    async def on_startup(app: FastAPI) -> None:
        # One token source for every call to the registry, the activities service and the gateway.
        app.state.service_tokens = ServiceTokens(
            app.state.http, settings.gateway_url, "evaluation", settings.service_secret
        )

    return create_service_app(
        name="evaluation",
        title="Linju evaluation",
        description="The 100-point rubric of Table C.1: rounds, scorecards, surveys, tiers, improvement.",
        settings=settings,
        tables=tables,
        routers=[
            rubrics_router,
            rounds_router,
            scorecards_router,
            internal_router,
            improvement_router,
            reports_router,
            changes_router,
            exports_router,
        ],
        on_startup=on_startup,
    )
