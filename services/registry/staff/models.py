from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check
from services.common.enums import Certificate
from services.registry.database import Base, utcnow


class StaffMember(Base):
    """运营人员 (5.2): who works at a site, with their social-work certificate."""

    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint("active_until IS NULL OR active_until >= active_from", name="active_period"),
        enum_check("certificate", Certificate),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    position: Mapped[str] = mapped_column(String(50), default="")
    full_time: Mapped[bool] = mapped_column(Boolean, default=True)
    certificate: Mapped[str] = mapped_column(String(16), default="none")
    certificate_no: Mapped[str | None] = mapped_column(String(50))
    active_from: Mapped[dt.date] = mapped_column(Date)
    active_until: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffTraining(Base):
    """One training or continuing-education session of a staff member (5.2.3: ≥ 50 h a year if certified)."""

    __tablename__ = "staff_trainings"
    __table_args__ = (CheckConstraint("hours > 0 AND hours <= 24", name="hours_in_a_day"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(200))
    hours: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
