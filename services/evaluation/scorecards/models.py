from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check, recorded_when
from services.common.enums import FindingSeverity, IndicatorSource, ScorecardState, SurveyChannel, Tier
from services.evaluation.database import Base, utcnow


class Scorecard(Base):
    """One site's scorecard in one round: draft → submitted → (returned → submitted)* → accepted."""

    __tablename__ = "scorecards"
    __table_args__ = (
        UniqueConstraint("round_id", "site_id", name="uq_scorecards_round_site"),
        Index("ix_scorecards_site", "site_id"),
        enum_check("state", ScorecardState),
        enum_check("tier", Tier),
        # Submitting dates the card and later states keep it; accepting dates it until a reopen; a
        # final round's publication (which needs every card accepted) writes the tier.
        recorded_when(
            "submitted_at",
            "state",
            [ScorecardState.SUBMITTED, ScorecardState.RETURNED, ScorecardState.ACCEPTED],
        ),
        recorded_when("accepted_at", "state", [ScorecardState.ACCEPTED]),
        recorded_when("tier", "state", [], kept=[ScorecardState.ACCEPTED]),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    round_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # Copied from the registry when the round opens, for street scoping and reports.
    street_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    site_name: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(16), default="draft")
    total: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    max_applicable: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    ratio: Mapped[Decimal | None] = mapped_column(Numeric(6, 4))
    tier: Mapped[str | None] = mapped_column(String(16))
    satisfaction_rate: Mapped[Decimal | None] = mapped_column(Numeric(6, 4))
    # The extracted inputs of the last compute, each with where it came from and the record ids.
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    computed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScorecardItem(Base):
    """One indicator on a scorecard: computed value, the evaluator's inputs or override, final value."""

    __tablename__ = "scorecard_items"
    __table_args__ = (enum_check("source", IndicatorSource),)

    scorecard_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scorecards.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    source: Mapped[str] = mapped_column(String(8))
    max_points: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    applicable: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    # Auto and hybrid items: {"read": [input names], "rule": [...lines], "missing", "message"}, the
    # records read kept once in the scorecard's `inputs` (compute.explanation_in_full); manual items
    # (and items computed before): {"inputs": {...}, "rule": [...], "counted": {...}, "excluded": [...]}.
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    manual_inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    manual_points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    override_points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    override_reason: Mapped[str | None] = mapped_column(Text)
    final_points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Finding(Base):
    """A finding on an indicator (7.2.2); `satisfaction_below_90` is raised automatically."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_site", "site_id"), enum_check("severity", FindingSeverity))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scorecard_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scorecards.id", ondelete="CASCADE"), index=True
    )
    round_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    indicator_code: Mapped[str] = mapped_column(String(8))
    code: Mapped[str | None] = mapped_column(String(40))  # machine code of automatic findings
    text: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SurveyResponse(Base):
    """One resident's answers (C18, 7.1.1): six dimensions rated 1–5."""

    __tablename__ = "survey_responses"
    __table_args__ = (enum_check("channel", SurveyChannel),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scorecard_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scorecards.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    # {"space": 5, "functions": 4, ...}; a dimension may be left unanswered.
    ratings: Mapped[dict[str, int]] = mapped_column(JSONB)
    respondent_phone_masked: Mapped[str | None] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
