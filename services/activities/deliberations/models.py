from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord
from services.common.constraints import enum_check
from services.common.enums import DeliberationForm, ExecutionStatus


class Deliberation(SiteRecord, Base):
    """协商议事 (5.4.8). Counts for C17 only with rules, resolution and execution recorded."""

    __tablename__ = "deliberations"
    __table_args__ = (
        Index("ix_deliberations_site_held", "site_id", "held_on"),
        CheckConstraint("participants >= 0", name="participants_not_negative"),
        enum_check("form", DeliberationForm),
        enum_check("execution_status", ExecutionStatus),
    )

    held_on: Mapped[dt.date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(200))
    form: Mapped[str] = mapped_column(String(32))
    participants: Mapped[int] = mapped_column(Integer, default=0)
    rules: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    execution_status: Mapped[str] = mapped_column(String(16), default="pending")

    @property
    def complete(self) -> bool:
        """Counts for C17 (民主协商): rules agreed, a resolution reached, and the resolution carried out."""
        return bool(self.rules.strip() and self.resolution.strip() and self.execution_status == "done")
