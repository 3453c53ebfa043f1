from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, Integer, String, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord
from services.common.constraints import enum_check
from services.common.enums import ServiceCategory, TargetGroup


class Activity(SiteRecord, Base):
    """An activity of one of the ten service categories (5.4), with its evidence (Table C.1 主题活动)."""

    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_site_starts", "site_id", "starts_at"),
        Index("ix_activities_site_category_starts", "site_id", "category", "starts_at"),
        # The theme count (C15) of a round's metrics: an index-only scan of ~7 % of the rows (act0004).
        Index(
            "ix_activities_theme_site_starts",
            "site_id",
            "starts_at",
            postgresql_include=["id", "attendance", "has_sign_in_sheet", "has_photo"],
            postgresql_where=text("is_theme"),
        ),
        CheckConstraint("ends_at >= starts_at", name="ends_after_starts"),
        CheckConstraint("attendance >= 0", name="attendance_not_negative"),
        enum_check("category", ServiceCategory),
        enum_check("target_groups", TargetGroup, array=True),
    )

    category: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    is_theme: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    location: Mapped[str] = mapped_column(String(200), default="")
    attendance: Mapped[int] = mapped_column(Integer, default=0)
    target_groups: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    partner_org_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    # [{"kind": "sign_in_sheet", "uri": "...", "sha256": "..."}]
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # Denormalised from evidence for the C15 count: a theme activity counts only with both.
    has_sign_in_sheet: Mapped[bool] = mapped_column(Boolean, default=False)
    has_photo: Mapped[bool] = mapped_column(Boolean, default=False)
