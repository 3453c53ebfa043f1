from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Numeric, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord


class Volunteer(SiteRecord, Base):
    """在册志愿者 (Table C.1 志愿者). Name and phone are personal data."""

    __tablename__ = "volunteers"
    __table_args__ = (Index("ix_volunteers_site_registered", "site_id", "registered_on"),)

    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(20))
    registered_on: Mapped[dt.date] = mapped_column(Date)


class VolunteerHours(SiteRecord, Base):
    """Hours a volunteer served on a day, optionally at an activity (≤ 24 per volunteer and day)."""

    __tablename__ = "volunteer_hours"
    __table_args__ = (
        Index("ix_volunteer_hours_volunteer_date", "volunteer_id", "date"),
        Index("ix_volunteer_hours_site_date", "site_id", "date"),
        CheckConstraint("hours > 0 AND hours <= 24", name="hours_in_a_day"),
    )

    volunteer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("volunteers.id"))
    activity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    date: Mapped[dt.date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 1))
