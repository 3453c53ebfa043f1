"""The registry's schema (``registry``): the declarative base shared by its domains."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from services.common.app import ServiceTables
from services.common.db import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(schema="registry", naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
tables = ServiceTables(metadata, outbox=True)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
