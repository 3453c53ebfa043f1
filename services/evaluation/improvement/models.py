from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check, recorded_when
from services.common.enums import ImprovementState
from services.evaluation.database import Base, utcnow


class ImprovementPlan(Base):
    """The operator's answer to a finding of a published round (7.2.2).

    States: open → in_progress → done → verified.
    """

    __tablename__ = "improvement_plans"
    __table_args__ = (
        enum_check("state", ImprovementState),
        recorded_when("verified_at", "state", [ImprovementState.VERIFIED]),
        recorded_when("verified_by", "state", [ImprovementState.VERIFIED]),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"), unique=True)
    round_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    street_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    actions: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(100))
    due_on: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="open")
    # [{"at": ..., "by": ..., "text": ...}]
    progress: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    verified_by: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
