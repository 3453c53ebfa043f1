from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.activities.database import Base, SiteRecord, utcnow


class FundAccount(SiteRecord, Base):
    """项目资金专账 (6.1.5): one account per site and project, with budget lines."""

    __tablename__ = "fund_accounts"

    project: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)


class FundBudgetLine(Base):
    __tablename__ = "fund_budget_lines"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("fund_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[str] = mapped_column(String(100), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class FundEntry(Base):
    """A spending entry on a budget line. Editable for 24 h; afterwards only reversed by a negative entry."""

    __tablename__ = "fund_entries"
    __table_args__ = (Index("ix_fund_entries_account_line", "account_id", "line"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("fund_accounts.id", ondelete="CASCADE"))
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    line: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    spent_on: Mapped[dt.date] = mapped_column(Date)
    voucher_no: Mapped[str] = mapped_column(String(50), default="")
    purpose: Mapped[str] = mapped_column(String(200), default="")
    reverses_entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
