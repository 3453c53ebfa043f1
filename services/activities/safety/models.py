from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord


class SafetyTraining(SiteRecord, Base):
    """消防安全教育培训 (6.1.4, Table C.1 安全制度 2)."""

    __tablename__ = "safety_trainings"
    __table_args__ = (
        Index("ix_safety_trainings_site_held", "site_id", "held_on"),
        CheckConstraint("attendance >= 0", name="attendance_not_negative"),
    )

    held_on: Mapped[dt.date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(200))
    attendance: Mapped[int] = mapped_column(Integer, default=0)
    has_record: Mapped[bool] = mapped_column(Boolean, default=True)


class SafetyPatrol(SiteRecord, Base):
    """消防安全巡查 (Table C.1 安全制度 3) with its hazards: [{description, due_on, rectified_on}]."""

    __tablename__ = "safety_patrols"
    __table_args__ = (Index("ix_safety_patrols_site_patrolled", "site_id", "patrolled_on"),)

    patrolled_on: Mapped[dt.date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(50))
    has_record: Mapped[bool] = mapped_column(Boolean, default=True)
    hazards: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
