from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check, recorded_when
from services.common.enums import RoundKind, RoundState
from services.evaluation.database import Base, utcnow


class Round(Base):
    """An evaluation round (7.1.2 midterm/final, 7.2.1 quarterly): open → closed → published."""

    __tablename__ = "rounds"
    __table_args__ = (
        CheckConstraint("period_end >= period_start", name="period_end_after_start"),
        Index("ix_rounds_year_kind", "year", "kind"),
        enum_check("kind", RoundKind),
        enum_check("state", RoundState),
        recorded_when("closed_at", "state", [RoundState.CLOSED, RoundState.PUBLISHED]),
        recorded_when("published_at", "state", [RoundState.PUBLISHED]),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200), default="")
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    rubric_version: Mapped[str] = mapped_column(ForeignKey("rubrics.version"))
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Assignment(Base):
    """An evaluator (user) assigned to score a site in a round; feeds the evaluator's `sites` claim."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("round_id", "evaluator_id", "site_id", name="uq_assignments_round_evaluator_site"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    round_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    evaluator_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    evaluator_organization_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
