from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

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
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check
from services.common.enums import ContractMode
from services.registry.database import Base, utcnow


class Contract(Base):
    """服务购买合同 (5.1). An organisation operates the sites it holds a contract for, active today."""

    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ends_after_starts"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        enum_check("mode", ContractMode),
        Index("ix_contracts_org_period", "organization_id", "starts_on", "ends_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    mode: Mapped[str] = mapped_column(String(16))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    deliverables: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
