from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord
from services.common.constraints import enum_check
from services.common.enums import BrandProjectKind, RecognitionKind, RecognitionLevel


class BrandProject(SiteRecord, Base):
    """品牌成效 (Table C.1): the site's overall brand or a brand service project."""

    __tablename__ = "brand_projects"
    __table_args__ = (
        Index("ix_brand_projects_site", "site_id", "started_on"),
        enum_check("kind", BrandProjectKind),
    )

    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    started_on: Mapped[dt.date] = mapped_column(Date)
    implemented: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(1000), default="")


class Recognition(SiteRecord, Base):
    """媒体报道 / 经验交流 / 荣誉表彰 (Table C.1) with its level."""

    __tablename__ = "recognitions"
    __table_args__ = (
        Index("ix_recognitions_site_date", "site_id", "date"),
        enum_check("kind", RecognitionKind),
        enum_check("level", RecognitionLevel),
    )

    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    date: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
