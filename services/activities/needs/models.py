from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord
from services.common.constraints import enum_check, recorded_when
from services.common.enums import ReferralStatus, ServiceCategory


class Need(SiteRecord, Base):
    """需求信息档案 (6.1.2): a resident's need; may be referred (5.3)."""

    __tablename__ = "needs"
    __table_args__ = (
        Index("ix_needs_site_recorded", "site_id", "recorded_on"),
        enum_check("category", ServiceCategory),
    )

    recorded_on: Mapped[dt.date] = mapped_column(Date)
    category: Mapped[str | None] = mapped_column(String(32))  # a service category, if it fits one
    description: Mapped[str] = mapped_column(Text)
    resident_name: Mapped[str | None] = mapped_column(String(50))
    resident_phone: Mapped[str | None] = mapped_column(String(20))
    resident_id_number_masked: Mapped[str | None] = mapped_column(String(24))


class Referral(SiteRecord, Base):
    """转介 (5.3): a need handed to a department or organisation; open → accepted → closed."""

    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_site_referred", "site_id", "referred_on"),
        enum_check("status", ReferralStatus),
        # open → accepted → closed, or open → closed: each move dates itself (services/activities/needs).
        recorded_when("accepted_on", "status", [ReferralStatus.ACCEPTED], kept=[ReferralStatus.CLOSED]),
        recorded_when("closed_on", "status", [ReferralStatus.CLOSED]),
    )

    need_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("needs.id"), index=True)
    referred_on: Mapped[dt.date] = mapped_column(Date)
    to_name: Mapped[str] = mapped_column(String(100))  # the department or organisation
    to_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16), default="open")
    accepted_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(Text, default="")
