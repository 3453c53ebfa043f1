"""The activities service's schema (``activities``): the declarative base shared by its domains."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, Integer, MetaData, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.app import ServiceTables
from services.common.db import NAMING_CONVENTION
from services.common.timeutil import utc_now


class Base(DeclarativeBase):
    metadata = MetaData(schema="activities", naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
tables = ServiceTables(metadata, outbox=True)


# The one clock (services.common.timeutil), under the name this schema's models use.
utcnow = utc_now


class SiteRecord:
    """Columns every site-bound log record has: id, site, who wrote it, version and timestamps."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
