from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord
from services.common.constraints import state_rule
from services.common.timeutil import SHANGHAI


def published_late_rule() -> CheckConstraint:
    """``ck_activity_plans_published_late_when_published``: a plan was published late exactly when it
    was published on or after the first day of its month, Asia/Shanghai (plans/service.py)."""
    published_on = f"CAST(timezone('{SHANGHAI.key}', published_at) AS date)"
    return state_rule(
        "published_late_when_published",
        f"published_late = (published_at IS NOT NULL AND {published_on} >= month)",
        columns=("published_late", "published_at", "month"),
    )


class ActivityPlan(SiteRecord, Base):
    """A site's monthly activity plan (Table C.1 常态开放 2: 每月须提前制定月度活动安排)."""

    __tablename__ = "activity_plans"
    __table_args__ = (
        UniqueConstraint("site_id", "month", name="uq_activity_plans_site_month"),
        published_late_rule(),
    )

    # First day of the month (Asia/Shanghai); the API speaks "2026-03".
    month: Mapped[dt.date] = mapped_column(Date)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Published after the month had begun (allowed, but does not earn C14's plan point).
    published_late: Mapped[bool] = mapped_column(Boolean, default=False)
