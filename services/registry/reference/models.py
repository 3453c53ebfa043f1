from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.registry.database import Base


class Street(Base):
    """街道 — seeded reference data (SPEC §4)."""

    __tablename__ = "streets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))


class Community(Base):
    """社区 — belongs to a street."""

    __tablename__ = "communities"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    street_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("streets.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
