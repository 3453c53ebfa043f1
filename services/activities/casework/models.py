from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord
from services.common.constraints import enum_check
from services.common.enums import CaseStage, TargetGroup


class Case(SiteRecord, Base):
    """个案 (MZ/T 094). The client is personal data: shown only to the site's operator and the district."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_site_opened", "site_id", "opened_on"),
        CheckConstraint("closed_on IS NULL OR closed_on >= opened_on", name="closed_after_opened"),
        CheckConstraint("sessions >= 0", name="sessions_not_negative"),
        enum_check("target_group", TargetGroup),
        enum_check("stage", CaseStage),
    )

    target_group: Mapped[str] = mapped_column(String(32))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(16), default="intake")
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    client_name: Mapped[str] = mapped_column(String(50))
    client_phone: Mapped[str | None] = mapped_column(String(20))
    # ID numbers are never stored whole: the masked form for display, a keyed hash to recognise a
    # returning client.
    client_id_number_masked: Mapped[str | None] = mapped_column(String(24))
    client_id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # An anonymised summary is what evaluators may read.
    summary: Mapped[str] = mapped_column(Text, default="")


class Group(SiteRecord, Base):
    """小组 (MZ/T 095)."""

    __tablename__ = "groups"
    __table_args__ = (
        Index("ix_groups_site_opened", "site_id", "opened_on"),
        CheckConstraint("closed_on IS NULL OR closed_on >= opened_on", name="closed_after_opened"),
        CheckConstraint("sessions >= 0 AND members >= 0", name="counts_not_negative"),
        enum_check("target_group", TargetGroup),
        enum_check("stage", CaseStage),
    )

    name: Mapped[str] = mapped_column(String(100))
    target_group: Mapped[str] = mapped_column(String(32))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(16), default="intake")
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    members: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
