"""Rubric versions (SPEC §6): Table C.1 as data, and the district's corrected versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from services.common.auth import AnyUser, DistrictOnly
from services.common.db import DbSession
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.evaluation.rubrics import service
from services.evaluation.rubrics.schemas import VERSION_PATTERN, RubricDocument, RubricRead, RubricSummary

router = APIRouter(tags=["rubrics"])

VersionPath = Annotated[str, Path(max_length=32, pattern=VERSION_PATTERN, examples=["2023-draft"])]


@router.get("/rubrics", response_model=Page[RubricSummary], summary="List rubric versions")
async def list_rubrics(session: DbSession, _: AnyUser, page: Pagination) -> Page[RubricSummary]:
    """Every rubric version, oldest first, without the indicators (read one version for those).
    `2023-draft` is Table C.1 of the standard, literally. Every role may read."""
    rows, cursor = await service.list_rubrics(session, page)
    return Page(items=[service.summary(r) for r in rows], next_cursor=cursor)


@router.get("/rubrics/{version}", response_model=RubricRead, summary="Get a rubric version")
async def get_rubric(session: DbSession, _: AnyUser, version: VersionPath) -> RubricRead:
    """One rubric version with its whole `document`: `thresholds` (Annex A), `survey` rules (C18,
    7.1.1) and the 21 `indicators`, each with `code`, `max_points`, `source` (`auto`, `manual`,
    `hybrid`), the standard's `rule_text`, the `rule` the engine evaluates and the `manual_inputs`
    the evaluator enters. 404 `rubric_not_found` for an unknown version."""
    return service.read(await service.get_rubric(session, version))


@router.post("/rubrics", response_model=RubricRead, status_code=201, summary="Create a rubric version")
async def create_rubric(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    body: RubricDocument,
    idempotency: IdempotencyGuard,
) -> Response:
    """District only. Adds a new rubric version from a **whole document** of the same shape as
    `GET /rubrics/2023-draft`'s `document` — e.g. to correct C08's "partly inconsistent" value, read
    `2023-draft`, change that level's points, and post it with a new `version` and `based_on:
    "2023-draft"` (`read_only` in the copy is ignored).

    The document is checked as a whole and every problem is listed (422, each naming its path such
    as `indicators.7.rule.terms.1.levels.partly`): exactly 21 indicators with unique codes; every
    term type known to the engine and its parameters present; each rule able to reach exactly its
    `max_points` (where that is knowable from the rule); the declared `manual_inputs` exactly the
    `manual.<code>.*` inputs the rule reads; other inputs ones the scorecard can supply; 100 points
    in all; `0 < thresholds.standard < thresholds.demonstration ≤ 1`.

    Versions never change once created: an existing version answers 409 `rubric_exists`, and
    `2023-draft` 409 `rubric_read_only`. Send `Idempotency-Key` to make a retry safe."""

    async def create() -> RubricRead:
        return service.read(await service.create_rubric(session, request, principal, body))

    return await idempotency.run(create)
