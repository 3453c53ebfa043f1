"""社区服务情况统计表 (6.1.2): one month of a site's (or a street's sites') service, counted in SQL.

Every number is an aggregate (COUNT / SUM … GROUP BY) over the month in Asia/Shanghai: activities by
their start, visits by their time, needs, referrals and volunteer hours by their date.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

from fastapi import Request
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities.activities.models import Activity
from services.activities.needs.models import Need, Referral
from services.activities.scope import UNRESTRICTED, can_read_site, site_clause, site_not_found
from services.activities.stats.schemas import (
    ActivityTotals,
    CategoryStats,
    MonthlyStats,
    NeedStats,
    ReferralStats,
    VisitStats,
)
from services.activities.visits.models import Visit
from services.activities.volunteers.models import VolunteerHours
from services.common.auth import Principal
from services.common.enums import LABELS, ReferralStatus, ServiceCategory
from services.common.errors import NotFound, ValidationFailed, define_titles
from services.common.timeutil import shanghai_midnight

define_titles({"street_not_found": ("Street not found", "街道不存在")})

CATEGORY_LABELS = LABELS["service_category"]
REFERRAL_LABELS = LABELS["referral_status"]


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a ``YYYY-MM`` month."""
    first = dt.date.fromisoformat(f"{month}-01")
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


async def sites_in_scope(
    request: Request, principal: Principal, site_id: uuid.UUID | None, street_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """The sites to count: the one asked for, or the street's sites (registry) within the caller's scope."""
    if (site_id is None) == (street_id is None):
        raise ValidationFailed(
            "site_id", "give exactly one of site_id or street_id", message_zh="site_id 与 street_id 须二选一"
        )
    if site_id is not None:
        if not can_read_site(principal, site_id):
            raise site_not_found()
        if principal.role in UNRESTRICTED and not await request.app.state.sites.exists(site_id):
            raise site_not_found()
        return [site_id]
    assert street_id is not None
    street_sites: list[uuid.UUID] = await request.app.state.sites.site_ids_of_street(street_id)
    if principal.role in UNRESTRICTED:
        return street_sites
    visible = [s for s in street_sites if principal.sites is not None and s in principal.sites]
    if not visible:
        raise NotFound(
            "No street with this id in your scope.", detail_zh="街道不存在。", code="street_not_found"
        )
    return visible


async def monthly_stats(
    session: AsyncSession,
    principal: Principal,
    site_ids: list[uuid.UUID],
    month: str,
    *,
    site_id: uuid.UUID | None,
    street_id: uuid.UUID | None,
) -> MonthlyStats:
    first, last = month_bounds(month)
    start, end = shanghai_midnight(first), shanghai_midnight(last + dt.timedelta(days=1))

    def at_sites(column: Any) -> Any:
        return column.in_(site_ids) & site_clause(principal, column)

    per_category = {
        category: (activities, attendance)
        for category, activities, attendance in await session.execute(
            select(Activity.category, func.count(), func.coalesce(func.sum(Activity.attendance), 0))
            .where(at_sites(Activity.site_id), Activity.starts_at >= start, Activity.starts_at < end)
            .group_by(Activity.category)
        )
    }
    categories = [
        CategoryStats(
            category=category,
            label_zh=CATEGORY_LABELS[category.value][1],
            activities=per_category.get(category.value, (0, 0))[0],
            attendance=per_category.get(category.value, (0, 0))[1],
        )
        for category in ServiceCategory
    ]
    totals = (
        await session.execute(
            select(
                select(func.count())
                .where(at_sites(Visit.site_id), Visit.visited_at >= start, Visit.visited_at < end)
                .scalar_subquery(),
                select(func.coalesce(func.sum(Visit.headcount), 0))
                .where(at_sites(Visit.site_id), Visit.visited_at >= start, Visit.visited_at < end)
                .scalar_subquery(),
                select(func.count())
                .where(at_sites(Need.site_id), Need.recorded_on.between(first, last))
                .scalar_subquery(),
                select(func.coalesce(func.sum(VolunteerHours.hours), 0))
                .where(at_sites(VolunteerHours.site_id), VolunteerHours.date.between(first, last))
                .scalar_subquery(),
            )
        )
    ).one()
    visits, headcount, needs, hours = totals
    referrals = {
        status: count
        for status, count in await session.execute(
            select(Referral.status, func.count())
            .where(at_sites(Referral.site_id), Referral.referred_on.between(first, last))
            .group_by(Referral.status)
        )
    }
    return MonthlyStats(
        month=month,
        site_id=site_id,
        street_id=street_id,
        site_ids=site_ids,
        categories=categories,
        activities_total=ActivityTotals(
            activities=sum(c.activities for c in categories), attendance=sum(c.attendance for c in categories)
        ),
        visits=VisitStats(count=visits, headcount=headcount),
        needs=NeedStats(count=needs),
        referrals=ReferralStats(
            total=sum(referrals.values()),
            **{status.value: referrals.get(status.value, 0) for status in ReferralStatus},
        ),
        volunteer_hours=Decimal(hours).quantize(Decimal("0.1")),
    )


# ---- downloads (Chinese headers) -------------------------------------------------------------------

CATEGORY_HEADER = ["类别", "活动场次", "参与人次"]
SUMMARY_HEADER = ["项目", "数量"]


def table_rows(stats: MonthlyStats) -> list[list[Any]]:
    """The statistics table as rows: per category, then the other items (shared by CSV and XLSX)."""
    rows: list[list[Any]] = [CATEGORY_HEADER]
    rows += [[c.label_zh, c.activities, c.attendance] for c in stats.categories]
    rows.append(["合计", stats.activities_total.activities, stats.activities_total.attendance])
    rows.append([])
    rows.append(SUMMARY_HEADER)
    rows += [
        ["来访登记次数", stats.visits.count],
        ["来访人次", stats.visits.headcount],
        ["需求登记数", stats.needs.count],
        *[
            [f"转介({REFERRAL_LABELS[status.value][1]})", getattr(stats.referrals, status.value)]
            for status in ReferralStatus
        ],
        ["转介合计", stats.referrals.total],
        ["志愿服务时数", stats.volunteer_hours],
    ]
    return rows


def to_csv(stats: MonthlyStats) -> bytes:
    """UTF-8 with a BOM, so that Excel opens the Chinese headers correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([[str(v) for v in row] for row in table_rows(stats)])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def to_xlsx(stats: MonthlyStats) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = f"社区服务情况统计表 {stats.month}"
    bold = Font(bold=True)
    for row in table_rows(stats):
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
        if row in (CATEGORY_HEADER, SUMMARY_HEADER):
            for cell in sheet[sheet.max_row]:
                cell.font = bold
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = 12
    sheet.column_dimensions["C"].width = 12
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
