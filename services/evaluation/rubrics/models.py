from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, DateTime, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.evaluation.database import Base, utcnow


class Rubric(Base):
    """A versioned rubric document (indicators with rules as data); `2023-draft` is Table C.1, read-only."""

    __tablename__ = "rubrics"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    based_on: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
