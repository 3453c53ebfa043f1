from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, Integer, String, Uuid
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check
from services.common.enums import OrganizationKind, Registration
from services.registry.database import Base, utcnow


class Organization(Base):
    """社会组织 / 社区社会组织 with its 统一社会信用代码 (GB 32100)."""

    __tablename__ = "organizations"
    __table_args__ = (enum_check("kind", OrganizationKind), enum_check("registration", Registration))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    registration: Mapped[str] = mapped_column(String(16))
    service_areas: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
