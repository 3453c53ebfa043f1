"""Evaluation service: the Table C.1 rubric, rounds, scorecards (SPEC §6)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.evaluation.database import tables
from services.evaluation.internal.router import router as internal_router
from services.evaluation.settings import EvaluationSettings


def create_app(settings: EvaluationSettings | None = None) -> FastAPI:
    return create_service_app(
        name="evaluation",
        title="Linju evaluation",
        description="The 100-point rubric of Table C.1: rounds, scorecards, surveys, tiers, improvement.",
        settings=settings or EvaluationSettings(),
        tables=tables,
        routers=[internal_router],
    )
