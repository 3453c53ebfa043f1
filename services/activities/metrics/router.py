"""`/metrics` — every count the Table C.1 rubric needs, with the ids of the records counted."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.activities.metrics import batch, service
from services.activities.metrics.schemas import SiteMetrics
from services.common.auth import Principal, ServiceOnly, require_roles
from services.common.db import DbSession
from services.common.memory import paused_gc
from services.common.timeutil import IsoDate

# No prefix: the router also carries the service-only `/internal/metrics`.
router = APIRouter(tags=["metrics"])

# The evaluation service (service token), the district and data platforms (read-only, everything);
# every other role → 403.
MetricsReader = Annotated[Principal, Depends(require_roles("service", "district", "integration"))]


@router.get("/metrics", response_model=SiteMetrics, summary="Rubric metrics of a site and period")
async def site_metrics(
    request: Request,
    session: DbSession,
    principal: MetricsReader,
    site_id: uuid.UUID,
    date_from: Annotated[IsoDate, Query(alias="from", description="First day of the period (inclusive)")],
    date_to: Annotated[IsoDate, Query(alias="to", description="Last day of the period (inclusive)")],
) -> SiteMetrics:
    """The inputs of Table C.1 (SPEC §6) for one site and period — for the evaluation service (service
    token), the district and data platforms. Only records dated inside `[from, to]` count (activities by
    `starts_at` in Asia/Shanghai); the volunteer roster counts everyone registered by `to`. Every
    counted set is `{"count": n, "ids": [...]}` (oldest first), so scores can name their records.
    `to` before `from`, or a period over two years → 422 `to`; unknown site → 404 `site_not_found`.

    * `months`: the months (`YYYY-MM`) the period touches; every `per_month` list has one entry each.
    * `themes` (C15): theme activities per month, split into `with_evidence` (a `sign_in_sheet` **and**
      a `photo` in their evidence — only these count) and `without_evidence`; totals of both; and, among
      the counted ones, `attendance_50_100` (50 ≤ attendance ≤ 100) and `attendance_over_100` (> 100).
    * `activities`: all activities of the period (`total`, `attendance_50_100`, `attendance_over_100`),
      theme or not, evidence or not — for explanations of what was excluded.
    * `casework` (C16): `cases` and `groups` opened in the period, `cases_and_groups`.
    * `deliberations` (C17): `complete` (rules, resolution and `execution_status: done`) and `incomplete`.
    * `volunteers` (C13): `registered` (roster by `to`), `hours` (decimal string, served in the period)
      and the `hour_entries` summed.
    * `safety` (C10): `trainings.with_record` / `without_record`; `patrols.per_month`,
      `months_without_patrol`, `with_record` / `without_record`; `hazards.total`, `overdue_count` and
      `overdue` items `{patrol_id, index, description, due_on, rectified_on}` — a hazard is overdue when
      it was fixed after `due_on` or is still open after it as of `as_of` (today).
    * `plans` (C14): per month `status` `on_time` (published before the month began), `late`,
      `unpublished` or `missing`, with `plan_id`; ids per status, `missing_months`, and
      `all_published_before_month`.
    * `brand` (C19): `overall_brand` (+ `overall_brand_exists`), `implemented_projects` (service
      projects carried out) and `planned_projects` (not implemented: excluded), started in the period.
    * `recognition` (C20, C21): for `exchange`, `media` and `honour`: `highest_level` (district < city <
      province < national; null when none), the `highest` records, and `by_level` for every level.
    """
    del principal  # role checked by the dependency; these roles see every site
    return await service.site_metrics(session, request, site_id, date_from, date_to)


class SitesMetricsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    site_ids: list[uuid.UUID] = Field(min_length=1, max_length=5000)
    period_from: dt.date = Field(alias="from")
    period_to: dt.date = Field(alias="to")


@router.post("/internal/metrics", include_in_schema=False)
async def sites_metrics(session: DbSession, _: ServiceOnly, body: SitesMetricsQuery) -> Response:
    """Service tokens only (never routed by the gateway): the `GET /metrics` document of many sites
    for one period, as `{"items": [...]}` in the order of `site_ids` — without the `activities`
    part, which the rubric does not read. Computed with one grouped query per count for all the
    sites at once (a whole evaluation round). Unknown sites simply have nothing to count."""
    with paused_gc():
        items = await batch.sites_metrics(session, body.site_ids, body.period_from, body.period_to)
        content = orjson.dumps({"items": items})
        # Freed before the collector runs again: it would otherwise walk them all once.
        del items
    return Response(content, media_type="application/json")
