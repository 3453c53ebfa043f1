from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

from services.common.enums import ServiceCategory

Hours = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str), Field(examples=["12.5"])]


class CategoryStats(BaseModel):
    category: ServiceCategory
    label_zh: str = Field(description="The category's Chinese label (类别)")
    activities: int = Field(description="活动场次: activities that started in the month")
    attendance: int = Field(description="参与人次: their summed attendance")


class ActivityTotals(BaseModel):
    activities: int
    attendance: int


class VisitStats(BaseModel):
    count: int = Field(description="来访登记次数")
    headcount: int = Field(description="来访人次")


class NeedStats(BaseModel):
    count: int = Field(description="需求登记条数 (recorded in the month)")


class ReferralStats(BaseModel):
    """Referrals made in the month, by their current status."""

    total: int
    open: int
    accepted: int
    closed: int


class MonthlyStats(BaseModel):
    """社区服务情况统计表 (6.1.2) for one month (Asia/Shanghai)."""

    month: str = Field(examples=["2026-09"])
    site_id: uuid.UUID | None = Field(description="The site asked for (null when asked by street)")
    street_id: uuid.UUID | None = Field(description="The street asked for (null when asked by site)")
    site_ids: list[uuid.UUID] = Field(description="The sites counted (a street's sites within your scope)")
    categories: list[CategoryStats] = Field(description="All ten service categories, zeros included")
    activities_total: ActivityTotals
    visits: VisitStats
    needs: NeedStats
    referrals: ReferralStats
    volunteer_hours: Hours = Field(description="志愿服务时数 served in the month")
