"""Projection (self-assessment), the district and street overview, and the scorecard spreadsheet."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.common.auth import AnyUser, Principal, require_roles
from services.common.db import DbSession
from services.evaluation.reports import service
from services.evaluation.reports.export import XLSX_MEDIA_TYPE
from services.evaluation.reports.schemas import OverviewRead, ProjectionRead

router = APIRouter(tags=["reports"])

# Who may use which endpoint (object scope: see service).
# Integration reads everything (SPEC §1); the overview holds no personal data.
OverviewReader = Annotated[Principal, Depends(require_roles("district", "street", "integration"))]
Year = Annotated[int, Query(ge=2000, le=2100, examples=[2026])]


@router.get(
    "/sites/{site_id}/projection", response_model=ProjectionRead, summary="Project a site's evaluation"
)
async def site_projection(
    request: Request,
    session: DbSession,
    principal: AnyUser,
    site_id: uuid.UUID,
    year: Year,
    rubric_version: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> ProjectionRead:
    """Self-assessment: the points the site would get if it were evaluated today on `year`.

    * `auto` and `hybrid` indicators are computed from 1 January of `year` to today (31 December
      for a past year) from the registry and the activity logs, exactly as a scorecard is; C15's
      yearly counts (8 activities of 50–100 people, 2 of more than 100) are pro-rated to the months
      covered, rounded up.
    * `manual` indicators (and C10's fire-rules judgement) come from the site's last accepted
      scorecard; C18 from its satisfaction rate. Without one they count 0 and are flagged
      `assumed_zero`.
    * `total`, `ratio` and the `tier` it would give (Annex A); for every indicator what is still
      `missing` for full points, in words (`text_en`, `text_zh`, e.g. "2 more activities of more than
      100 people" / "还需 2 场百人以上活动") and numbers (`needs`: current, target, more).

    `rubric_version` defaults to that of the site's latest round, else `2023-draft`. Who may ask:
    the district and integration (any site), the site's street and operator, an evaluator assigned
    to the site in a round still open or closed; otherwise 404 `site_not_found`. A future `year`
    → 422 `year`; 503 when the registry or the activities service does not answer."""
    return await service.site_projection(session, request, principal, site_id, year, rubric_version)


@router.get("/reports/overview", response_model=OverviewRead, summary="Evaluation overview of a year")
async def overview(
    session: DbSession, principal: OverviewReader, year: Year, street_id: uuid.UUID | None = None
) -> OverviewRead:
    """District and street overview of the published **final** rounds of `year` (a site's latest if
    it was in several), against the previous year: the tier distribution (Annex A), the average
    points per indicator, the ranking of sites by total with each site's change (Δ total, tier
    `up`/`down`/`same`/`new`), and the satisfaction rates with the sites below 90 % (7.1.1).

    The district (and data platforms, role `integration`) see the whole district or one street
    (`street_id`); a street only its own (default; another street's id → 404 `street_not_found`).
    Other roles: 403."""
    return await service.overview(session, principal, year, street_id)


@router.get(
    "/scorecards/{scorecard_id}/export.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The scorecard as a workbook"}},
    summary="Download a scorecard as a spreadsheet",
)
async def export_scorecard(session: DbSession, principal: AnyUser, scorecard_id: uuid.UUID) -> Response:
    """The scorecard as an `.xlsx` laid out like Table C.1: a header block (site, round, state,
    total, ratio, tier, satisfaction rate), then 序号, 评价内容, 评价指标, 评分规则, 分值, 得分, 说明
    — one row per indicator, grouped and merged like the standard's table, with a total row — and
    a second sheet listing the findings. Same visibility as `GET /scorecards/{id}` (404
    `scorecard_not_found` otherwise)."""
    content, disposition = await service.scorecard_export(session, principal, scorecard_id)
    return Response(
        content,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )
