"""The registry's schema (``registry``): the declarative base shared by its domains."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from services.common.app import ServiceTables
from services.common.db import NAMING_CONVENTION
from services.common.timeutil import utc_now


class Base(DeclarativeBase):
    metadata = MetaData(schema="registry", naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
tables = ServiceTables(metadata, outbox=True)


# The one clock (services.common.timeutil), under the name this schema's models use.
utcnow = utc_now
