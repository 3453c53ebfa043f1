from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check, in_states, sql_literals, state_rule
from services.common.enums import FilingKind, FilingState, Role
from services.registry.database import Base, utcnow
from services.registry.filings.state import known_moves


def planned_site_rule() -> CheckConstraint:
    """``ck_filings_site_id_when_approved``: approving a hub plan creates its planned site (6.2.2),
    and nothing else links a filing to a site."""
    approved_plan = (
        f"{in_states('state', [FilingState.APPROVED])} AND {in_states('kind', [FilingKind.HUB_PLAN])}"
    )
    return state_rule(
        "site_id_when_approved",
        f"(site_id IS NOT NULL) = ({approved_plan})",
        columns=("site_id", "state", "kind"),
    )


def known_move_rule() -> CheckConstraint:
    """``ck_filing_transitions_move_known``: the history holds the creation (``None → draft``) and
    the moves of the state machine, nothing else."""
    moves = ", ".join(f"({sql_literals([source.value, target.value])})" for source, target in known_moves())
    created = f"from_state IS NULL AND {in_states('to_state', [FilingState.DRAFT])}"
    return state_rule(
        "move_known",
        f"({created}) OR (from_state, to_state) IN ({moves})",
        columns=("from_state", "to_state"),
    )


class FilingWindow(Base):
    """When construction filings of a year may be submitted (6.2.2; default 1 Jan – 31 Mar)."""

    __tablename__ = "filing_windows"
    __table_args__ = (CheckConstraint("closes_on >= opens_on", name="closes_after_opens"),)

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    opens_on: Mapped[dt.date] = mapped_column(Date)
    closes_on: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Filing(Base):
    """A construction filing (6.2.2): a unit's facility plan or a street's hub construction plan."""

    __tablename__ = "filings"
    __table_args__ = (
        Index("ix_filings_year_state", "year", "state"),
        Index("ix_filings_conflict", "year", "community_id", "facility_type"),
        CheckConstraint(
            "planned_finish IS NULL OR planned_start IS NULL OR planned_finish >= planned_start",
            name="finish_after_start",
        ),
        enum_check("kind", FilingKind),
        enum_check("state", FilingState),
        planned_site_rule(),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    filer_name: Mapped[str] = mapped_column(String(100))
    # The operator organisation that filed a `facility` filing as a unit, if any.
    filer_organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"))
    street_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("streets.id"))
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    facility_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    planned_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    funding_source: Mapped[str] = mapped_column(String(100), default="")
    planned_start: Mapped[dt.date | None] = mapped_column(Date)
    planned_finish: Mapped[dt.date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, default="")
    late_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The planned site created when a hub_plan filing is approved.
    site_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FilingTransition(Base):
    """Who moved a filing from which state to which, when, and why."""

    __tablename__ = "filing_transitions"
    __table_args__ = (
        enum_check("from_state", FilingState),
        enum_check("to_state", FilingState),
        enum_check("actor_role", Role),
        known_move_rule(),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    filing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("filings.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BuildList(Base):
    """A published, immutable version of a year's build list (统筹安排后公布建设名单)."""

    __tablename__ = "build_lists"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_by: Mapped[str] = mapped_column(String(200))
    # The approved filings as they were at publication (frozen copies, not references).
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
