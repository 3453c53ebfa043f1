from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check
from services.common.enums import IntegratedWith, OperatingMode, SiteOrgRelation, SiteStatus, Structure, Tier
from services.registry.database import Base, utcnow


class Site(Base):
    """一个社区美好生活共同体 (SPEC §4). ``tier`` is written only by the evaluation service."""

    __tablename__ = "sites"
    __table_args__ = (
        Index("ix_sites_street_status", "street_id", "status"),
        CheckConstraint("lat IS NULL OR (lat BETWEEN 3 AND 54)", name="lat_in_china"),
        CheckConstraint("lng IS NULL OR (lng BETWEEN 73 AND 136)", name="lng_in_china"),
        CheckConstraint("floor_area_m2 IS NULL OR floor_area_m2 > 0", name="floor_area_positive"),
        enum_check("status", SiteStatus),
        enum_check("operating_mode", OperatingMode),
        enum_check("integrated_with", IntegratedWith, array=True),
        enum_check("structure", Structure),
        enum_check("tier", Tier),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    street_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("streets.id"))
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), index=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    lat: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    lng: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    floor_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    status: Mapped[str] = mapped_column(String(16))
    operating_mode: Mapped[str | None] = mapped_column(String(16))
    integrated_with: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    structure: Mapped[str | None] = mapped_column(String(32))
    # {"mon": {"open": "08:00", "close": "20:00"}, "tue": null, ...}
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # {"door_sign": bool, "standing_sign": bool}
    signage: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # [{"kind": "elderly_center", "name": ..., "slip_rating": "r10", "warm_walls": true, ...}, ...] (4.3.1)
    function_areas: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # [{"item": "fire_equipment", "present": true, "checked_on": "2026-03-01"}, ...] (4.2.1)
    safety: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    tier: Mapped[str | None] = mapped_column(String(16))
    tier_round_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    tier_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The approved hub_plan filing that created this site (6.2.2), if any.
    filing_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    notes: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SiteOrganization(Base):
    """A site ↔ organisation link: operator, introduced (引进) or incubated (培育)."""

    __tablename__ = "site_organizations"
    __table_args__ = (
        CheckConstraint("until IS NULL OR until >= since", name="until_after_since"),
        enum_check("relation", SiteOrgRelation),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    since: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
