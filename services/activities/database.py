"""The activities service's schema (``activities``): the declarative base shared by its domains."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from services.common.app import ServiceTables
from services.common.db import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(schema="activities", naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
tables = ServiceTables(metadata)
