from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord


class Visit(SiteRecord, Base):
    """流量及诉求登记 (6.1.3): who came, how many, why. The visitor's identity is personal data."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_site_visited", "site_id", "visited_at"),
        CheckConstraint("headcount >= 1", name="headcount_positive"),
    )

    visited_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    headcount: Mapped[int] = mapped_column(Integer, default=1)
    purpose: Mapped[str] = mapped_column(String(200), default="")
    needs: Mapped[str] = mapped_column(Text, default="")
    visitor_name: Mapped[str | None] = mapped_column(String(50))
    visitor_phone: Mapped[str | None] = mapped_column(String(20))
    visitor_id_number_masked: Mapped[str | None] = mapped_column(String(24))
