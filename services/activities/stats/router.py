"""`/stats` — 社区服务情况统计表 (6.1.2): a month of service per category, as JSON, CSV or XLSX."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.activities.scope import Reader
from services.activities.stats import service
from services.activities.stats.schemas import MonthlyStats
from services.common.db import DbSession
from services.common.enums import ExportFormat

router = APIRouter(prefix="/stats", tags=["statistics"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "",
    response_model=MonthlyStats,
    summary="Monthly service statistics",
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def monthly_service_stats(
    request: Request,
    session: DbSession,
    principal: Reader,
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-09"])],
    site_id: uuid.UUID | None = None,
    street_id: uuid.UUID | None = None,
    export_format: Annotated[ExportFormat | None, Query(alias="format")] = None,
) -> Response | MonthlyStats:
    """社区服务情况统计表 (6.1.2) for one `month` (`YYYY-MM`, Asia/Shanghai) of one site (`site_id`) or of
    a street's sites within your scope (`street_id`; exactly one of the two).

    Per service category (all ten, zeros included): activities that started in the month and their
    summed attendance; visits and headcount; needs recorded; referrals made in the month by status;
    volunteer hours served. A site outside your scope → 404 `site_not_found`.

    `format=csv` (UTF-8 with BOM) or `format=xlsx` downloads the same table with Chinese headers
    (类别, 活动场次, 参与人次, then 项目/数量 for the other items)."""
    site_ids = await service.sites_in_scope(request, principal, site_id, street_id)
    stats = await service.monthly_stats(
        session, principal, site_ids, month, site_id=site_id, street_id=street_id
    )
    scope_name = f"site-{site_id}" if site_id is not None else f"street-{street_id}"
    if export_format is ExportFormat.CSV:
        return Response(
            service.to_csv(stats),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="stats-{scope_name}-{month}.csv"'},
        )
    if export_format is ExportFormat.XLSX:
        return Response(
            service.to_xlsx(stats),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="stats-{scope_name}-{month}.xlsx"'},
        )
    return stats
